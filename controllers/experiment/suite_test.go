package experiment_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// The package's tests share one envtest environment (a real etcd and
// kube-apiserver; no controllers): starting it takes seconds.
var (
	// restConfig reaches the envtest API server; nil without one.
	restConfig *rest.Config
	// scheme knows the core and Faultline types.
	scheme *runtime.Scheme
	// apiClient reads and writes the API server directly: tests set up and
	// assert through it.
	apiClient client.Client
	// cachedClient reads from an informer cache, as the manager's client
	// does, and writes directly. The Reconciler uses it.
	cachedClient client.Client
	// informers is the cache behind cachedClient, with the run index; the
	// Reconciler reads Experiments and runs from it unstructured, and tests
	// wait until it has caught up with their writes.
	informers cache.Cache
)

// TestMain starts envtest when KUBEBUILDER_ASSETS names a directory holding
// etcd and kube-apiserver; otherwise (or with -short) the tests that need
// it skip and the pure ones run.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		restConfig, scheme, apiClient = e.Config, e.Scheme, e.Client
		// The cache lives as long as the test binary.
		ctx := context.Background()
		var err error
		if informers, err = cache.New(e.Config, cache.Options{Scheme: scheme}); err != nil {
			return fmt.Errorf("creating cache: %w", err)
		}
		// The index the Reconciler lists runs by, on the unstructured runs
		// it reads, as SetupWithManager adds it to the manager's cache.
		if err := experiment.IndexRuns(ctx, informers); err != nil {
			return err
		}
		go func() {
			if err := informers.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "cache stopped:", err)
			}
		}()
		if !informers.WaitForCacheSync(ctx) {
			return fmt.Errorf("cache did not sync")
		}
		cachedClient, err = client.New(e.Config, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
		if err != nil {
			return fmt.Errorf("creating cached client: %w", err)
		}
		return nil
	}))
}

// requireAPIServer skips tb when there is no API server.
func requireAPIServer(tb testing.TB) {
	tb.Helper()
	if restConfig == nil {
		tb.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
}
