// Package rightstest_test proves, against a real kube-apiserver with RBAC
// and Faultline's admission webhooks served for real, that a namespace user
// cannot reach through Faultline further than their own rights go, and that
// a cluster administrator can.
package rightstest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/webhooks"
	"github.com/faultline-dev/faultline/webhooks/access"
)

// operatorUsername is the operator's account in these tests; no test user
// has it, so every request is judged as a person's.
const operatorUsername = "system:serviceaccount:faultline-system:faultline"

// cluster is the package's envtest API server with the webhooks running.
// admin is nil when the tests run without one, and needCluster then skips.
var cluster struct {
	env    *envtest.Environment
	scheme *runtime.Scheme
	admin  client.Client
}

// TestMain starts one envtest API server (RBAC on), installs the CRDs and
// config/webhook's configurations pointing at a local webhook server, and
// runs a manager serving the webhooks with the real access checker.
// Without KUBEBUILDER_ASSETS (or with -short) nothing is started and the
// tests skip.
func TestMain(m *testing.M) {
	flag.Parse()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(runWithCluster(m, assets))
}

func runWithCluster(m *testing.M, assets string) int {
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
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook")},
		},
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
	if n := len(env.WebhookInstallOptions.MutatingWebhooks) + len(env.WebhookInstallOptions.ValidatingWebhooks); n == 0 {
		// Tests against an API server that calls no webhook would prove
		// only RBAC.
		fmt.Fprintln(os.Stderr, "no webhook configuration found in config/webhook")
		return 1
	}
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped, err := startWebhooks(ctx, cfg, env, scheme, admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the webhooks:", err)
		return 1
	}
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()

	cluster.env, cluster.scheme, cluster.admin = env, scheme, admin
	return m.Run()
}

// startWebhooks runs a manager serving Faultline's webhooks where envtest's
// webhook configurations point, and waits until it answers TLS.
func startWebhooks(ctx context.Context, cfg *rest.Config, env *envtest.Environment, scheme *runtime.Scheme, admin client.Client) (<-chan error, error) {
	opts := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    opts.LocalServingHost,
			Port:    opts.LocalServingPort,
			CertDir: opts.LocalServingCertDir,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := webhooks.Setup(mgr, webhooks.Options{
		OperatorUsername: operatorUsername,
		Access:           &access.Checker{Client: admin},
	}); err != nil {
		return nil, fmt.Errorf("setting up webhooks: %w", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()

	started := mgr.GetWebhookServer().StartedChecker()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := started(req)
		if err == nil {
			return stopped, nil
		}
		select {
		case err := <-stopped:
			return nil, errors.Join(errors.New("manager stopped before the webhook server started"), err)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("webhook server not answering: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func needCluster(t *testing.T) client.Client {
	t.Helper()
	if cluster.admin == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (hack/tools.sh --print-k8s-dir), and do not pass -short")
	}
	return cluster.admin
}

// userClient is a client authenticated as a user the API server knows by a
// client certificate; the user's rights are whatever RBAC grants the name
// and groups.
func userClient(t *testing.T, name string, groups ...string) client.Client {
	t.Helper()
	u, err := cluster.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", name, err)
	}
	c, err := client.New(u.Config(), client.Options{Scheme: cluster.scheme})
	if err != nil {
		t.Fatalf("client for %s: %v", name, err)
	}
	return c
}
