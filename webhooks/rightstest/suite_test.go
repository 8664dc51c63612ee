// Package rightstest_test proves, against a real kube-apiserver with RBAC
// and Faultline's admission webhooks served for real, that a namespace user
// cannot reach through Faultline further than their own rights go, and that
// a cluster administrator can.
package rightstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/faultline-dev/faultline/internal/access"
	"github.com/faultline-dev/faultline/internal/testenv"
	"github.com/faultline-dev/faultline/webhooks"
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
	withWebhooks := func(e *envtest.Environment) error {
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "..", "config", "webhook")}}
		return testenv.FaultlineCRDs("../..")(e)
	}
	os.Exit(testenv.Run(m, withWebhooks, func(e *testenv.Env) error {
		if n := len(e.Environment.WebhookInstallOptions.MutatingWebhooks) + len(e.Environment.WebhookInstallOptions.ValidatingWebhooks); n == 0 {
			// Tests against an API server that calls no webhook would
			// prove only RBAC.
			return errors.New("no webhook configuration found in config/webhook")
		}
		// The webhook server lives as long as the test binary.
		if _, err := startWebhooks(context.Background(), e.Config, e.Environment, e.Scheme, e.Client); err != nil {
			return fmt.Errorf("starting the webhooks: %w", err)
		}
		cluster.env, cluster.scheme, cluster.admin = e.Environment, e.Scheme, e.Client
		return nil
	}))
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
