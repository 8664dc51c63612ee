package webhooks_test

import (
	"context"
	"crypto/tls"
	"flag"
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
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
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
	flag.Parse()
	// The manager logs through controller-runtime's logger; the tests
	// assert what the API server answers, not log lines.
	ctrl.SetLogger(logr.Discard())
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(runWithAPIServer(m, assets))
}

func runWithAPIServer(m *testing.M, assets string) int {
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, chaosv1alpha1.AddToScheme} {
		if err := add(testScheme); err != nil {
			fmt.Fprintln(os.Stderr, "building scheme:", err)
			return 1
		}
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                testScheme,
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "config", "webhook")},
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startWebhooks(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "starting webhooks:", err)
		return 1
	}
	admin, err = client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}
	if err := setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "creating fixtures:", err)
		return 1
	}
	return m.Run()
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
// corpus's Prometheus, and the one config/samples use (the testbed's).
var allowedAddresses = []string{"http://prometheus.monitoring:9090", "http://127.0.0.1:9090"}

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
