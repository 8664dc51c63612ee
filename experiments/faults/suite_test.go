package faults

import (
	"flag"
	"fmt"
	"os"
	"testing"

	istioversioned "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// k8sClient talks to the package's envtest API server (a real etcd and
// kube-apiserver, no kubelet or controllers). It is nil when the tests run
// without one; apiServer skips such tests.
var k8sClient client.Client

// TestMain starts one envtest environment for the whole package, since
// starting etcd and kube-apiserver takes seconds and every fault's tests share it.
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
	istioCRDs, err := istioCRDPath()
	if err != nil {
		fmt.Fprintln(os.Stderr, "finding Istio's CRDs:", err)
		return 1
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{istioCRDs}, ErrorIfPathMissing: true},
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
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}
	istioClient, err = istioversioned.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating Istio client:", err)
		return 1
	}
	return m.Run()
}

// apiServer returns the envtest client, or skips t when there is no API
// server: KUBEBUILDER_ASSETS unset (run `make envtest`, which sets it) or -short.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	if k8sClient == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (make envtest does), and do not pass -short")
	}
	return k8sClient
}
