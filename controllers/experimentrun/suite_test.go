package experimentrun_test

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/internal/testenv"
)

// k8sClient talks straight to the package's envtest API server (a real etcd
// and kube-apiserver; no kubelet, no controllers). It is nil when the tests
// run without one, and apiServer then skips.
var k8sClient client.Client

// k8sConfig reaches the same API server, for clients that watch.
var k8sConfig *rest.Config

// TestMain starts one envtest environment for the package: starting etcd and
// kube-apiserver takes seconds, and every controller test shares them.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		k8sClient, k8sConfig = e.Client, e.Config
		return nil
	}))
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
