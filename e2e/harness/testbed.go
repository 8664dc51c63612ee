package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Addresses the operator is run with; e2e/testbed/prometheus.yml scrapes the
// metrics address, and e2e/testbed/alertmanager.yml sends notifications to
// the alert receiver's.
const (
	operatorMetricsAddr       = "127.0.0.1:8080"
	operatorHealthAddr        = "127.0.0.1:8081"
	OperatorAlertReceiverAddr = "127.0.0.1:9444"
)

// alertReceiverTokenName is the receiver's token file in the state
// directory, as hack/testbed-up.sh names it.
const alertReceiverTokenName = "alert-receiver-token"

// Testbed is the cluster, Prometheus and operator the tests run against.
type Testbed struct {
	// RepoRoot is the root of this checkout.
	RepoRoot string
	// StateDir holds the testbed's state, PIDs and logs (.testbed).
	StateDir string
	// Kubeconfig is the path of the cluster's kubeconfig.
	Kubeconfig string
	// Config is the REST config from Kubeconfig.
	Config *rest.Config
	// Client reads and writes core, apps, Faultline and Istio networking
	// objects, uncached: tests must see what the API server says now.
	Client client.Client
	// PrometheusAddr is host:port of the testbed's Prometheus.
	PrometheusAddr string
	// Prom is the Prometheus HTTP API at PrometheusAddr.
	Prom promv1.API
	// Operator is the operator process; nil with FAULTLINE_E2E_OPERATOR=0.
	Operator *Operator
	// Webhooks are the admission webhook configurations pointing at
	// Operator; nil with FAULTLINE_E2E_OPERATOR=0.
	Webhooks *Webhooks
	// AlertReceiverTokenFile holds the bearer token the operator's alert
	// receiver asks for (--alert-receiver-token-file) and the testbed's
	// Alertmanager sends (credentials_file in .testbed/alertmanager.yml).
	AlertReceiverTokenFile string

	// managed: the testbed is hack/testbed-up.sh's, so its Prometheus can
	// be stopped and started through the script and PID files.
	managed bool
	// owned: this run brought the testbed up and tears it down.
	owned bool

	tearDownOnce sync.Once
}

// SetUpTestbed finds or brings up the testbed, connects to it and starts
// the operator. On error the returned Testbed, if any, holds what must be
// torn down.
func SetUpTestbed(ctx context.Context) (*Testbed, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	t := &Testbed{
		RepoRoot:       root,
		StateDir:       filepath.Join(root, ".testbed"),
		PrometheusAddr: EnvOr("PROMETHEUS_ADDR", "127.0.0.1:9090"),
	}
	if d := os.Getenv("FAULTLINE_TESTBED_DIR"); d != "" {
		t.StateDir = d
	}
	ownKubeconfig := filepath.Join(t.StateDir, "kubeconfig")

	t.Kubeconfig = os.Getenv("FAULTLINE_E2E_KUBECONFIG")
	if t.Kubeconfig == "" {
		t.Kubeconfig = os.Getenv("KUBECONFIG")
	}
	if t.Kubeconfig != "" {
		t.managed = samePath(t.Kubeconfig, ownKubeconfig)
		fmt.Fprintf(os.Stderr, "e2e: using the cluster of %s\n", t.Kubeconfig)
	} else {
		t.Kubeconfig = ownKubeconfig
		t.managed = true
		wasUp := APIServerAnswers(ctx, ownKubeconfig)
		if err := t.script(ctx, "testbed-up.sh"); err != nil {
			// The script tears down what it started when it fails.
			return nil, err
		}
		t.owned = !wasUp && os.Getenv("FAULTLINE_E2E_KEEP") != "1"
	}

	if err := t.connect(); err != nil {
		return t, err
	}
	if err := t.checkIsTestbed(ctx); err != nil {
		return t, err
	}
	if os.Getenv("FAULTLINE_E2E_OPERATOR") != "0" {
		bin := filepath.Join(root, "bin", "faultline")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/faultline")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return t, fmt.Errorf("building the operator: %w", err)
		}
		// The testbed's apiserver calls the operator's admission webhooks
		// on this machine, with a certificate made for the run.
		t.Webhooks, err = newWebhooks(t.StateDir, filepath.Join(root, "config", "webhook", "manifests.yaml"))
		if err != nil {
			return t, err
		}
		// The operator runs as its own ServiceAccount with the generated
		// RBAC, unless FAULTLINE_E2E_OPERATOR_ADMIN=1.
		operatorKubeconfig := t.Kubeconfig
		if os.Getenv("FAULTLINE_E2E_OPERATOR_ADMIN") != "1" {
			if operatorKubeconfig, err = t.operatorKubeconfig(ctx); err != nil {
				return t, err
			}
		}
		// hack/testbed-up.sh makes the token; a testbed of KUBECONFIG's
		// may not have run it.
		t.AlertReceiverTokenFile = filepath.Join(t.StateDir, alertReceiverTokenName)
		if err := ensureToken(t.AlertReceiverTokenFile); err != nil {
			return t, err
		}
		t.Operator = &Operator{
			Bin:         bin,
			Kubeconfig:  operatorKubeconfig,
			MetricsAddr: operatorMetricsAddr,
			HealthAddr:  operatorHealthAddr,
			WebhookAddr: t.Webhooks.Addr,
			Args: append(t.Webhooks.OperatorArgs(),
				"--alert-receiver-bind-address", OperatorAlertReceiverAddr,
				"--alert-receiver-token-file", t.AlertReceiverTokenFile),
			LogPath: filepath.Join(t.StateDir, "operator.log"),
			PIDPath: filepath.Join(t.StateDir, "operator.pid"),
		}
		if err := t.Operator.Start(ctx); err != nil {
			return t, err
		}
		if err := t.Webhooks.Install(ctx, t.Client); err != nil {
			return t, err
		}
		if err := t.Webhooks.WaitAnswering(ctx, t.Client, 30*time.Second); err != nil {
			return t, fmt.Errorf("the apiserver does not reach the operator's webhooks at %s: %w", t.Webhooks.Addr, err)
		}
	}
	// Admission refuses a provider address the ChaosPolicy does not list,
	// and every test queries the testbed's Prometheus.
	if err := t.ensureE2EPolicy(ctx); err != nil {
		return t, err
	}
	if err := Poll(ctx, time.Minute, t.SteadyState); err != nil {
		return t, fmt.Errorf("the shop did not reach its steady state: %w", err)
	}
	return t, nil
}

// TearDown removes the webhook configurations, stops the operator and, if
// this run brought it up, the testbed.
func (t *Testbed) TearDown() {
	t.tearDownOnce.Do(func() {
		if t.Webhooks != nil {
			// First: once the operator is gone, configurations that fail
			// closed would refuse every Experiment and run on a testbed
			// that stays up.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := t.Webhooks.Uninstall(ctx, t.Client); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			}
			cancel()
			_ = os.RemoveAll(t.Webhooks.CertDir)
		}
		if t.Operator != nil {
			if err := t.Operator.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: stopping the operator: %v\n", err)
			}
		}
		if t.owned {
			if err := t.script(context.Background(), "testbed-down.sh"); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			}
		}
	})
}

func (t *Testbed) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", t.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", t.Kubeconfig, err)
	}
	// Tests create, patch and poll quickly; client-go's default 5 QPS
	// would make waits measure the rate limiter instead of the cluster.
	cfg.QPS, cfg.Burst = 100, 200
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, chaosv1alpha1.AddToScheme, istionetworkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	pc, err := api.NewClient(api.Config{Address: "http://" + t.PrometheusAddr})
	if err != nil {
		return err
	}
	t.Config, t.Client, t.Prom = cfg, c, promv1.NewAPI(pc)
	return nil
}

// checkIsTestbed refuses a cluster without kwok nodes or the demo shop, so
// that a KUBECONFIG left pointing at a real cluster never gets chaos tests.
func (t *Testbed) checkIsTestbed(ctx context.Context) error {
	nodes := &corev1.NodeList{}
	if err := t.Client.List(ctx, nodes, client.MatchingLabels{"type": "kwok"}); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return fmt.Errorf("%s has no kwok nodes (label type=kwok): refusing to run e2e tests on a cluster that is not a testbed; unset KUBECONFIG to let the suite bring up its own", t.Kubeconfig)
	}
	if err := t.Client.Get(ctx, client.ObjectKey{Name: ShopNamespace}, &corev1.Namespace{}); err != nil {
		return fmt.Errorf("%s has no namespace %s (e2e/testbed/shop.yaml): %w", t.Kubeconfig, ShopNamespace, err)
	}
	return nil
}

// script runs hack/NAME with the output on stderr and env added to the
// environment.
func (t *Testbed) script(ctx context.Context, name string, env ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(t.RepoRoot, "hack", name))
	cmd.Dir, cmd.Stdout, cmd.Stderr = t.RepoRoot, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "FAULTLINE_TESTBED_DIR="+t.StateDir)
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/%s: %w", name, err)
	}
	return nil
}

// RequireManaged skips the test unless the cluster is the testbed of
// hack/testbed-up.sh, whose processes the helpers can stop and start
// through its script and PID files.
func (t *Testbed) RequireManaged(tt testing.TB) {
	tt.Helper()
	if !t.managed {
		tt.Skipf("the cluster of %s is not the testbed of hack/testbed-up.sh", t.Kubeconfig)
	}
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ensureToken writes a random token to path unless it holds one.
func ensureToken(path string) error {
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(buf)), 0o600)
}

func samePath(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// APIServerAnswers reports whether the cluster of kubeconfig answers /readyz.
func APIServerAnswers(ctx context.Context, kubeconfig string) bool {
	if _, err := os.Stat(kubeconfig); err != nil {
		return false
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return false
	}
	cfg.Timeout = 3 * time.Second
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false
	}
	resp, err := c.Get(strings.TrimSuffix(cfg.Host, "/") + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK && ctx.Err() == nil
}
