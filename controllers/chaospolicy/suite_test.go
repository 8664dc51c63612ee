package chaospolicy_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// k8sClient talks straight to the package's envtest API server (a real etcd
// and kube-apiserver; no kubelet, no controllers). It is nil when the tests
// run without one, and apiServer then skips.
var k8sClient client.Client

// testConfig is the envtest API server's config, for tests that run a manager.
var testConfig *rest.Config

// TestMain starts one envtest environment for the package: starting etcd and
// kube-apiserver takes seconds, and every controller test shares them. Without
// KUBEBUILDER_ASSETS (or with -short) nothing is started and the tests skip.
func TestMain(m *testing.M) {
	flag.Parse()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(runWithAPIServer(m, assets))
}

func runWithAPIServer(m *testing.M, assets string) int {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "building scheme:", err)
		return 1
	}
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "building scheme:", err)
		return 1
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		// A test against CRDs that silently failed to load would pass for
		// the wrong reason.
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest from KUBEBUILDER_ASSETS=%s: %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	testConfig = cfg
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}
	return m.Run()
}

// apiServer returns the envtest client, or skips t when there is no API
// server: KUBEBUILDER_ASSETS unset (point it at a directory holding etcd and
// kube-apiserver) or -short.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	if k8sClient == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
	return k8sClient
}
