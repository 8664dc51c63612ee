package webhooks_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testenv"
	"github.com/faultline-dev/faultline/webhooks"
)

// operatorUser is the user name the webhooks treat as Faultline itself.
const operatorUser = "system:serviceaccount:faultline-system:faultline"

// The suite: one envtest API server with the generated CRDs and the
// generated webhook configuration, calling the webhooks served by a real
// manager. Users are real API server users (client certificates) so the
// webhooks see the user info the API server authenticated.
var (
	testScheme = runtime.NewScheme()
	env        *envtest.Environment
	admin      client.Client
	// users maps a name to a client acting as that user.
	users = map[string]client.Client{}
)

func TestMain(m *testing.M) {
	// The manager logs through controller-runtime's logger; the tests
	// assert what the API server answers, not log lines.
	ctrl.SetLogger(logr.Discard())
	withWebhooks := func(e *envtest.Environment) error {
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}}
		return testenv.FaultlineCRDs("..")(e)
	}
	os.Exit(testenv.Run(m, withWebhooks, func(e *testenv.Env) error {
		testScheme, env, admin = e.Scheme, e.Environment, e.Client
		// The webhook server lives as long as the test binary.
		ctx := context.Background()
		if err := startWebhooks(ctx, e.Config); err != nil {
			return fmt.Errorf("starting webhooks: %w", err)
		}
		if err := setUp(ctx); err != nil {
			return fmt.Errorf("creating fixtures: %w", err)
		}
		return nil
	}))
}

// startWebhooks runs a manager serving the webhooks on envtest's port and
// waits until it answers TLS, so no test races the server's start.
func startWebhooks(ctx context.Context, cfg *rest.Config) error {
	opts := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    opts.LocalServingHost,
			Port:    opts.LocalServingPort,
			CertDir: opts.LocalServingCertDir,
		}),
	})
	if err != nil {
		return err
	}
	if err := webhooks.Setup(mgr, webhooks.Options{OperatorUsername: operatorUser}); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	addr := net.JoinHostPort(opts.LocalServingHost, strconv.Itoa(opts.LocalServingPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe of the local test server
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server at %s not ready: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The users of the tests. All may do anything (cluster-admin): these tests
// are about what the webhooks record and refuse, not about RBAC.
const (
	alice = "alice"
	bob   = "bob"
)

func setUp(ctx context.Context) error {
	for _, name := range []string{alice, bob, operatorUser} {
		u, err := env.AddUser(envtest.User{Name: name, Groups: []string{"faultline-test-admins"}}, nil)
		if err != nil {
			return fmt.Errorf("adding user %s: %w", name, err)
		}
		c, err := client.New(u.Config(), client.Options{Scheme: testScheme})
		if err != nil {
			return err
		}
		users[name] = c
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "faultline-test-admins"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "faultline-test-admins"}},
	}
	if err := admin.Create(ctx, binding); err != nil {
		return err
	}
	for _, ns := range []string{corpusNamespace, samplesNamespace, testNamespace} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}}
		if err := admin.Create(ctx, n); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	pol := &chaosv1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec: chaosv1alpha1.ChaosPolicySpec{
			AllowedProviderAddresses: allowedAddresses,
		},
	}
	return admin.Create(ctx, pol)
}

// allowedAddresses is the allow-list of the suite's ChaosPolicy: the
// corpus's Prometheus, the one config/samples use (the testbed's), and one
// tenant's path on a shared server, which the corpus tries to climb out of.
var allowedAddresses = []string{"http://prometheus.monitoring:9090", "http://127.0.0.1:9090", "http://thanos.monitoring:10902/tenants/team-a"}

const (
	corpusNamespace  = "corpus"
	samplesNamespace = "shop"
	testNamespace    = "webhooks"
)

// apiServer skips t when there is no API server.
func apiServer(t *testing.T) {
	t.Helper()
	if admin == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
}
