package faults

import (
	"fmt"
	"os"
	"testing"

	istioversioned "istio.io/client-go/pkg/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/faultline-dev/faultline/internal/testenv"
)

// k8sClient talks to the package's envtest API server (a real etcd and
// kube-apiserver, no kubelet or controllers). It is nil when the tests run
// without one; apiServer skips such tests.
var k8sClient client.Client

// watchClient is k8sClient's equivalent with watches, which interceptors
// need.
var watchClient client.WithWatch

// TestMain starts one envtest environment for the whole package, since
// starting etcd and kube-apiserver takes seconds and every fault's tests
// share it. It installs Istio's CRDs: the Istio fault patches real
// VirtualServices.
func TestMain(m *testing.M) {
	istioCRDs := func(env *envtest.Environment) error {
		path, err := istioCRDPath()
		if err != nil {
			return fmt.Errorf("finding Istio's CRDs: %w", err)
		}
		env.CRDInstallOptions = envtest.CRDInstallOptions{Paths: []string{path}, ErrorIfPathMissing: true}
		return nil
	}
	os.Exit(testenv.Run(m, istioCRDs, func(e *testenv.Env) error {
		k8sClient = e.Client
		var err error
		if watchClient, err = client.NewWithWatch(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
			return fmt.Errorf("creating client: %w", err)
		}
		if istioClient, err = istioversioned.NewForConfig(e.Config); err != nil {
			return fmt.Errorf("creating Istio client: %w", err)
		}
		return nil
	}))
}

// apiServer returns the envtest client, or skips t when there is no API
// server: KUBEBUILDER_ASSETS unset or -short.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	if k8sClient == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (make envtest does), and do not pass -short")
	}
	return k8sClient
}
