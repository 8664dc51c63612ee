package providers_test

import (
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/faultline-dev/faultline/internal/testenv"
)

// apiConfig reaches the package's envtest API server (a real etcd and
// kube-apiserver), for the providers that watch; nil when the tests run
// without one.
var (
	apiConfig *rest.Config
	apiScheme *runtime.Scheme
)

// TestMain starts one envtest environment for the package when
// KUBEBUILDER_ASSETS is set; the tests that need it skip otherwise.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, nil, func(e *testenv.Env) error {
		apiConfig, apiScheme = e.Config, e.Scheme
		return nil
	}))
}
