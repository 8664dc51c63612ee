package experiment_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
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
	// cachedClient reads from an informer cache with the run index, as the
	// manager's client does, and writes directly. The Reconciler uses it.
	cachedClient client.Client
	// informers is the cache behind cachedClient, for tests that must wait
	// until it has caught up with their writes.
	informers cache.Cache
)

// TestMain starts envtest when KUBEBUILDER_ASSETS names a directory holding
// etcd and kube-apiserver; otherwise (or with -short) the tests that need
// it skip and the pure ones run.
func TestMain(m *testing.M) {
	flag.Parse()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(runWithAPIServer(m, assets))
}

func runWithAPIServer(m *testing.M, assets string) int {
	scheme = runtime.NewScheme()
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
	restConfig = cfg
	if apiClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if informers, err = cache.New(cfg, cache.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "creating cache:", err)
		return 1
	}
	err = informers.IndexField(ctx, &chaosv1alpha1.ExperimentRun{}, experiment.ExperimentRefIndex, func(o client.Object) []string {
		return []string{o.(*chaosv1alpha1.ExperimentRun).Spec.ExperimentRef.Name}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "indexing runs:", err)
		return 1
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "cache stopped:", err)
		}
	}()
	if !informers.WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		return 1
	}
	cachedClient, err = client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating cached client:", err)
		return 1
	}
	return m.Run()
}

// requireAPIServer skips tb when there is no API server.
func requireAPIServer(tb testing.TB) {
	tb.Helper()
	if restConfig == nil {
		tb.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
}
