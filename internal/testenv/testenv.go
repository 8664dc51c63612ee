// Package testenv starts the real etcd and kube-apiserver (envtest) that
// Faultline's API-server test suites share, one per test binary.
//
// Without KUBEBUILDER_ASSETS, or under -short, nothing is started and the
// package's tests run alone: those that need an API server skip.
package testenv

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Scheme holds client-go's types and Faultline's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, chaosv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// Env is a started API server.
type Env struct {
	// Config reaches the API server as its administrator.
	Config *rest.Config
	// Scheme is Scheme().
	Scheme *runtime.Scheme
	// Client talks straight to the API server, uncached.
	Client client.Client
	// Environment is the envtest environment, for adding users.
	Environment *envtest.Environment
}

// Run runs the package's tests, with an API server when one can be
// started, and returns the exit code for os.Exit. configure sets up the
// environment before it starts (CRD and webhook paths); setup prepares the
// package's shared state once it runs. Either may be nil.
func Run(m *testing.M, configure func(*envtest.Environment) error, setup func(*Env) error) int {
	flag.Parse()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		return m.Run()
	}
	code, err := run(m, assets, configure, setup)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

func run(m *testing.M, assets string, configure func(*envtest.Environment) error, setup func(*Env) error) (int, error) {
	scheme, err := Scheme()
	if err != nil {
		return 0, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, Scheme: scheme}
	if configure != nil {
		if err := configure(env); err != nil {
			return 0, err
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return 0, fmt.Errorf("starting envtest from KUBEBUILDER_ASSETS=%s: %w", assets, err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return 0, fmt.Errorf("creating client: %w", err)
	}
	if setup != nil {
		if err := setup(&Env{Config: cfg, Scheme: scheme, Client: c, Environment: env}); err != nil {
			return 0, err
		}
	}
	return m.Run(), nil
}

// FaultlineCRDs makes env install Faultline's CRDs from config/crd/bases,
// found at root (the repository root, relative to the test's package), and
// fail when they are missing: a test against CRDs that silently failed to
// load would pass for the wrong reason.
func FaultlineCRDs(root string) func(*envtest.Environment) error {
	return func(env *envtest.Environment) error {
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, root+"/config/crd/bases")
		env.ErrorIfCRDPathMissing = true
		return nil
	}
}

// Start starts an API server of tb's own, configured by configure (which may
// be nil), and stops it when tb ends. It skips tb without KUBEBUILDER_ASSETS
// or under -short. For tests that change what the whole server sees (its
// CRDs, its users) and so cannot share the package's.
func Start(tb testing.TB, configure func(*envtest.Environment) error) *Env {
	tb.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		tb.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (hack/tools.sh --print-k8s-dir), and do not pass -short")
	}
	scheme, err := Scheme()
	if err != nil {
		tb.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, Scheme: scheme}
	if configure != nil {
		if err := configure(env); err != nil {
			tb.Fatal(err)
		}
	}
	cfg, err := env.Start()
	if err != nil {
		tb.Fatalf("starting envtest from KUBEBUILDER_ASSETS=%s: %v", assets, err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("stopping envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		tb.Fatalf("creating client: %v", err)
	}
	return &Env{Config: cfg, Scheme: scheme, Client: c, Environment: env}
}
