//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The demo shop of e2e/testbed/shop.yaml.
const (
	shopNamespace = "shop"
	// readyDelayAnnotation overrides, per pod, how long the kwok stage
	// pod-ready (e2e/testbed/kwok-stages.yaml) waits before a running pod
	// becomes Ready.
	readyDelayAnnotation = "faultline.dev/ready-delay"
	// defaultReadyDelay is that wait without the annotation.
	defaultReadyDelay = 5 * time.Second
	// pollInterval is how often waitFor looks again: well below the
	// second-scale effects the tests measure.
	pollInterval = 100 * time.Millisecond
)

// shopDeployments are the demo Deployments and their replicas at rest.
var shopDeployments = map[string]int32{"checkout": 3, "cart": 3, "payments": 2, "reviews": 2, "ratings": 2}

// noisyServices fail a small share of requests at rest (trafficsim's
// --error-rate, 0.5% by default in hack/testbed-lib.sh): the judgement's
// services, whose natural noise a comparison must see through.
var noisyServices = map[string]bool{"reviews": true, "ratings": true}

// restingSuccessRatio is the least success ratio over 5s a shop service
// shows at rest. A noisy service's 5s window counts about 1,200 requests
// with 6 failed on average; 0.98 is 24 failed, which chance alone does not
// reach, where 0.99 (12) it would about once in 50 looks.
func restingSuccessRatio(service string) float64 {
	if noisyServices[service] {
		return 0.98
	}
	return 0.99
}

// Addresses the operator is run with; e2e/testbed/prometheus.yml scrapes the
// metrics address, and e2e/testbed/alertmanager.yml sends notifications to
// the alert receiver's.
const (
	operatorMetricsAddr       = "127.0.0.1:8080"
	operatorHealthAddr        = "127.0.0.1:8081"
	operatorAlertReceiverAddr = "127.0.0.1:9444"
)

// alertReceiverTokenName is the receiver's token file in the state
// directory, as hack/testbed-up.sh names it.
const alertReceiverTokenName = "alert-receiver-token"

// errNoData is returned by Query when the query yields no sample.
var errNoData = errors.New("query returned no data")

// errGiveUp, wrapped in a condition's error, ends a poll at once: waiting
// longer cannot help (the process being waited for has exited).
var errGiveUp = errors.New("giving up")

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

// setUpTestbed finds or brings up the testbed, connects to it and starts
// the operator. On error the returned Testbed, if any, holds what must be
// torn down.
func setUpTestbed(ctx context.Context) (*Testbed, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	t := &Testbed{
		RepoRoot:       root,
		StateDir:       filepath.Join(root, ".testbed"),
		PrometheusAddr: envOr("PROMETHEUS_ADDR", "127.0.0.1:9090"),
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
		wasUp := apiserverAnswers(ctx, ownKubeconfig)
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
				"--alert-receiver-bind-address", operatorAlertReceiverAddr,
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
		if err := t.Webhooks.waitAnswering(ctx, t.Client, 30*time.Second); err != nil {
			return t, fmt.Errorf("the apiserver does not reach the operator's webhooks at %s: %w", t.Webhooks.Addr, err)
		}
	}
	// Admission refuses a provider address the ChaosPolicy does not list,
	// and every test queries the testbed's Prometheus.
	if err := t.ensureE2EPolicy(ctx); err != nil {
		return t, err
	}
	if err := poll(ctx, time.Minute, t.steadyState); err != nil {
		return t, fmt.Errorf("the shop did not reach its steady state: %w", err)
	}
	return t, nil
}

// tearDown removes the webhook configurations, stops the operator and, if
// this run brought it up, the testbed.
func (t *Testbed) tearDown() {
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
	if err := t.Client.Get(ctx, client.ObjectKey{Name: shopNamespace}, &corev1.Namespace{}); err != nil {
		return fmt.Errorf("%s has no namespace %s (e2e/testbed/shop.yaml): %w", t.Kubeconfig, shopNamespace, err)
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

// --- waiting ---------------------------------------------------------------

// poll calls cond every pollInterval until it returns true, and returns an
// error naming cond's last error when timeout or ctx ends first, or at once
// when that error wraps errGiveUp. The error of a false says why (a failed
// request or the value seen); with true it is ignored.
func poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if errors.Is(err, errGiveUp) {
			return err
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("timed out after %s; last error: %w", timeout, lastErr)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-time.After(pollInterval):
		}
	}
}

// waitFor polls cond until it holds and returns how long that took; the test
// fails if it does not hold within timeout. what completes "waiting for ...".
// An error from cond is not fatal (the next poll may succeed) but the last
// one is reported if the wait times out, so return one that says why not.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	// Not t.Context(): that is cancelled before cleanups run, and tests
	// wait in cleanups too. The timeout bounds the wait.
	if err := poll(context.Background(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return time.Since(start)
}

// --- Prometheus ------------------------------------------------------------

// Query runs an instant PromQL query now and returns its one value: errNoData
// for an empty result, an error for several series. 0/0 gives NaN, not an
// error.
func (t *Testbed) Query(ctx context.Context, query string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := t.Prom.Query(ctx, query, time.Now())
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", query, err)
	}
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("query %s: %w", query, errNoData)
		case 1:
			return float64(v[0].Value), nil
		default:
			return 0, fmt.Errorf("query %s: %d series, want 1", query, len(v))
		}
	default:
		return 0, fmt.Errorf("query %s: a %s, want a vector or scalar", query, v.Type())
	}
}

// successRatioQuery is the share of a shop service's requests that did not
// fail with a 5xx over window (a PromQL duration such as "5s"), as Istio
// reports it (simulated by trafficsim).
func successRatioQuery(service, window string) string {
	return fmt.Sprintf(`sum(rate(istio_requests_total{destination_service_namespace=%q,destination_service_name=%q,response_code!~"5.."}[%s]))`+
		` / sum(rate(istio_requests_total{destination_service_namespace=%q,destination_service_name=%q}[%s]))`,
		shopNamespace, service, window, shopNamespace, service, window)
}

// SuccessRatio is successRatioQuery's value now.
func (t *Testbed) SuccessRatio(ctx context.Context, service, window string) (float64, error) {
	return t.Query(ctx, successRatioQuery(service, window))
}

// AlertFiring reports whether alert is firing in Prometheus now.
func (t *Testbed) AlertFiring(ctx context.Context, alert string) (bool, error) {
	_, err := t.Query(ctx, fmt.Sprintf(`max(ALERTS{alertname=%q,alertstate="firing"})`, alert))
	if errors.Is(err, errNoData) {
		return false, nil
	}
	return err == nil, err
}

// StopPrometheus stops the testbed's Prometheus (SIGTERM, then waits for it
// to exit). Only for the testbed of hack/testbed-up.sh; skips the test
// otherwise. Pair it with StartPrometheus, also in a t.Cleanup.
func (t *Testbed) StopPrometheus(tt testing.TB) {
	tt.Helper()
	t.requireManaged(tt)
	pid, err := readPID(filepath.Join(t.StateDir, "prometheus.pid"))
	if err != nil {
		tt.Fatalf("Prometheus PID: %v", err)
	}
	if err := terminate(pid, 10*time.Second); err != nil {
		tt.Fatalf("stopping Prometheus: %v", err)
	}
}

// StartPrometheus starts the testbed's Prometheus again, with its data,
// through hack/testbed-up.sh (which restarts only what is down), and waits
// until it answers. A no-op if it runs.
func (t *Testbed) StartPrometheus(tt testing.TB) {
	tt.Helper()
	t.requireManaged(tt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Reuse only: a cluster the script found wanting must fail the test,
	// not be rebuilt under the suite's feet (new certificates, no objects).
	if err := t.script(ctx, "testbed-up.sh", "FAULTLINE_TESTBED_REUSE_ONLY=1", "FAULTLINE_TESTBED_SKIP_TOOLS=1"); err != nil {
		tt.Fatal(err)
	}
}

func (t *Testbed) requireManaged(tt testing.TB) {
	tt.Helper()
	if !t.managed {
		tt.Skipf("the cluster of %s is not the testbed of hack/testbed-up.sh", t.Kubeconfig)
	}
}

// --- the operator ------------------------------------------------------------

// KillOperator SIGKILLs the operator, as a crash would, and waits until it is
// gone. Skips the test when the suite does not run the operator.
func (t *Testbed) KillOperator(tt testing.TB) {
	tt.Helper()
	t.requireOperator(tt)
	if err := t.Operator.Kill(); err != nil {
		tt.Fatal(err)
	}
}

// StartOperator starts the operator, with extraArgs added to its flags, and
// waits until it is ready and the apiserver reaches its webhooks; a no-op if it runs. The suite's own operator runs
// without extra flags; a test that passes some should restart it without
// them when done. Safe in a t.Cleanup, like every helper here.
func (t *Testbed) StartOperator(tt testing.TB, extraArgs ...string) {
	tt.Helper()
	t.requireOperator(tt)
	t.Operator.ExtraArgs = extraArgs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.Operator.Start(ctx); err != nil {
		tt.Fatal(err)
	}
	// Ready means the webhook server listens; wait until the apiserver
	// gets through too, so the test's next create is not refused.
	if err := t.Webhooks.waitAnswering(ctx, t.Client, 30*time.Second); err != nil {
		tt.Fatalf("the apiserver does not reach the restarted operator's webhooks: %v", err)
	}
}

// RestartOperator is a crash and a restart: KillOperator then StartOperator.
func (t *Testbed) RestartOperator(tt testing.TB, extraArgs ...string) {
	tt.Helper()
	t.KillOperator(tt)
	t.StartOperator(tt, extraArgs...)
}

func (t *Testbed) requireOperator(tt testing.TB) {
	tt.Helper()
	if t.Operator == nil {
		tt.Skip("the suite does not run the operator (FAULTLINE_E2E_OPERATOR=0)")
	}
}

// Operator is the faultline binary run as a local process against the
// testbed. Its output is appended to LogPath and its PID kept in PIDPath, so
// that hack/testbed-down.sh stops it even if the test binary died.
type Operator struct {
	// Bin is the operator binary.
	Bin string
	// Kubeconfig is passed as --kubeconfig.
	Kubeconfig string
	// MetricsAddr and HealthAddr are the metrics and health bind addresses.
	MetricsAddr, HealthAddr string
	// WebhookAddr is the webhook server's address, checked free at Start.
	WebhookAddr string
	// Args are added to the flags at every Start (the webhook settings).
	Args []string
	// ExtraArgs are added to the flags at the next Start.
	ExtraArgs []string
	// LogPath receives stdout and stderr.
	LogPath string
	// PIDPath holds the PID while the process runs.
	PIDPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts the operator unless it runs, and waits until its /readyz
// answers; it fails early if the process exits or a port is taken.
func (o *Operator) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.running() {
		return nil
	}
	for _, addr := range []string{o.MetricsAddr, o.HealthAddr, o.WebhookAddr} {
		if addr == "" {
			continue
		}
		if err := portFree(addr); err != nil {
			return fmt.Errorf("starting the operator: %w (is another operator running? see %s)", err, o.PIDPath)
		}
	}
	logFile, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }() // the child has its own copy
	_, _ = fmt.Fprintf(logFile, "\n=== e2e: starting the operator at %s\n", time.Now().Format(time.RFC3339Nano))

	args := append([]string{
		"--kubeconfig", o.Kubeconfig,
		"--metrics-bind-address", o.MetricsAddr,
		"--health-probe-bind-address", o.HealthAddr,
	}, append(slices.Clone(o.Args), o.ExtraArgs...)...)
	// Not exec.CommandContext: the operator outlives the ctx of the test
	// that starts it.
	cmd := exec.Command(o.Bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C reaches the test binary, whose
		// handler stops the operator in order. Pdeathsig: if the test
		// binary dies anyway (go test -timeout), so does the operator.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	// Pdeathsig fires when the starting OS thread exits; keep this
	// goroutine on its thread while forking so the runtime cannot retire
	// the thread under it mid-start.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	o.cmd, o.exited = cmd, exited
	if err := os.WriteFile(o.PIDPath, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		return err
	}

	readyz := "http://" + o.HealthAddr + "/readyz"
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("%w: the operator exited (%s); see %s", errGiveUp, cmd.ProcessState, o.LogPath)
		default:
		}
		return httpOK(ctx, readyz)
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator to be ready: %w", err)
	}
	return nil
}

// Kill SIGKILLs the operator and waits until it has exited.
func (o *Operator) Kill() error {
	return o.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop asks the operator to shut down (SIGTERM), waits up to 15s, then
// kills it.
func (o *Operator) Stop() error {
	if err := o.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		return o.Kill()
	}
	return nil
}

// Running reports whether the operator process is running.
func (o *Operator) Running() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running()
}

func (o *Operator) running() bool {
	if o.cmd == nil {
		return false
	}
	select {
	case <-o.exited:
		return false
	default:
		return true
	}
}

func (o *Operator) signal(sig syscall.Signal, wait time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.running() {
		return nil
	}
	if err := o.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling the operator: %w", err)
	}
	select {
	case <-o.exited:
		_ = os.Remove(o.PIDPath)
		return nil
	case <-time.After(wait):
		return fmt.Errorf("the operator did not exit within %s of %s", wait, sig)
	}
}

// --- Kubernetes objects ----------------------------------------------------------

// Create creates obj and deletes it when the test ends.
func (t *Testbed) Create(tt testing.TB, obj client.Object) {
	tt.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.Client.Create(ctx, obj); err != nil {
		tt.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	tt.Cleanup(func() {
		// The test's context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := t.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			tt.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// ScaleDeployment sets the replicas of a shop Deployment.
func (t *Testbed) ScaleDeployment(ctx context.Context, name string, replicas int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: shopNamespace, Name: name}}
	return t.Client.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch))
}

// deploymentReady reports whether a shop Deployment has rolled out with
// want replicas, all Ready, and no pod left over.
func (t *Testbed) deploymentReady(ctx context.Context, name string, want int32) (bool, error) {
	d := &appsv1.Deployment{}
	if err := t.Client.Get(ctx, client.ObjectKey{Namespace: shopNamespace, Name: name}, d); err != nil {
		return false, err
	}
	s := d.Status
	ok := d.Spec.Replicas != nil && *d.Spec.Replicas == want && s.ObservedGeneration >= d.Generation &&
		s.Replicas == want && s.UpdatedReplicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want
	if !ok {
		return false, fmt.Errorf("deployment %s: want %d, status %d replicas, %d updated, %d ready, %d available", name, want, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
	}
	return true, nil
}

// steadyState holds when every shop Deployment has its replicas at rest,
// all Ready, and Prometheus sees every service answer (nearly) all requests.
func (t *Testbed) steadyState(ctx context.Context) (bool, error) {
	for name, replicas := range shopDeployments {
		if ok, err := t.deploymentReady(ctx, name, replicas); !ok {
			return false, err
		}
	}
	for name := range shopDeployments {
		r, err := t.SuccessRatio(ctx, name, "5s")
		if err != nil {
			return false, err
		}
		if !(r >= restingSuccessRatio(name)) { // NaN too: no traffic yet
			return false, fmt.Errorf("success ratio of %s over 5s is %.3f", name, r)
		}
	}
	return true, nil
}

// RequireSteadyState waits until the shop is at rest (steadyState): call it
// first in every test, as a test before may have left it recovering.
func (t *Testbed) RequireSteadyState(tt testing.TB) {
	tt.Helper()
	waitFor(tt, time.Minute, "the shop's steady state", t.steadyState)
}

// RestoreShopOnCleanup, when the test ends and whatever it did, uncordons
// the kwok nodes, scales every shop Deployment back to its replicas at rest
// and waits for the steady state, so the next test starts from it. Register
// it first: cleanups run last-in first-out, so the test's own run before it.
func (t *Testbed) RestoreShopOnCleanup(tt testing.TB) {
	tt.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		nodes := &corev1.NodeList{}
		if err := t.Client.List(ctx, nodes, client.MatchingLabels{"type": "kwok"}); err != nil {
			tt.Errorf("listing nodes: %v", err)
		}
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if !n.Spec.Unschedulable {
				continue
			}
			tt.Logf("uncordoning node %s, left cordoned by the test", n.Name)
			if err := t.Client.Patch(ctx, n, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"unschedulable":false}}`))); err != nil {
				tt.Errorf("uncordoning node %s: %v", n.Name, err)
			}
		}
		for name, replicas := range shopDeployments {
			if err := t.ScaleDeployment(ctx, name, replicas); err != nil {
				tt.Errorf("scaling %s back to %d: %v", name, replicas, err)
			}
		}
		if err := poll(ctx, time.Minute, t.steadyState); err != nil {
			tt.Errorf("the shop did not recover after the test: %v", err)
		}
	})
}

// shopPods lists the pods of a shop app (label app=<app>).
func (t *Testbed) shopPods(ctx context.Context, app string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := t.Client.List(ctx, pods, client.InNamespace(shopNamespace), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// readyTransition returns when pod last became Ready, from its Ready
// condition (second resolution, as the API stores it).
func readyTransition(pod *corev1.Pod) (time.Time, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// readyDelay is how long the kwok stages keep pod Running but not Ready: the
// ground truth a time-to-recover measurement is compared with.
func readyDelay(pod *corev1.Pod) (time.Duration, error) {
	v, ok := pod.Annotations[readyDelayAnnotation]
	if !ok {
		return defaultReadyDelay, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("pod %s: annotation %s: %w", pod.Name, readyDelayAnnotation, err)
	}
	return d, nil
}

// virtualServiceGVK is networking.istio.io/v1 VirtualService, patched as
// unstructured JSON so a test states the fault exactly as a user would.
var virtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

// SetRouteFault sets the fault of the http route named route in a shop
// VirtualService (Istio's HTTPFaultInjection as JSON, e.g.
// {"abort":{"httpStatus":503,"percentage":{"value":50}}}); a nil fault removes
// it. The JSON patch tests the route's name at its index, so it cannot hit
// another route if the list changed in between.
func (t *Testbed) SetRouteFault(ctx context.Context, vsName, route string, fault map[string]any) error {
	vs := &unstructured.Unstructured{}
	vs.SetGroupVersionKind(virtualServiceGVK)
	if err := t.Client.Get(ctx, client.ObjectKey{Namespace: shopNamespace, Name: vsName}, vs); err != nil {
		return err
	}
	routes, _, err := unstructured.NestedSlice(vs.Object, "spec", "http")
	if err != nil {
		return err
	}
	idx, hasFault := -1, false
	for i, r := range routes {
		if m, ok := r.(map[string]any); ok && m["name"] == route {
			idx = i
			_, hasFault = m["fault"]
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("virtualservice %s has no http route %q", vsName, route)
	}
	ops := []map[string]any{{"op": "test", "path": fmt.Sprintf("/spec/http/%d/name", idx), "value": route}}
	switch {
	case fault != nil:
		ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/spec/http/%d/fault", idx), "value": fault})
	case hasFault:
		ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/spec/http/%d/fault", idx)})
	default:
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return t.Client.Patch(ctx, vs, client.RawPatch(types.JSONPatchType, patch))
}

// --- experiments -----------------------------------------------------------

// StartRun creates an ExperimentRun of exp (named after it) and returns it.
func (t *Testbed) StartRun(tt testing.TB, exp *chaosv1alpha1.Experiment) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, GenerateName: exp.Name + "-"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
	}
	t.Create(tt, run)
	return run
}

// WaitRunCompleted waits until run reaches phase Completed and returns it as
// it is then, with its verdict and report. The test fails on timeout,
// showing the phase and message the run was stuck at.
func (t *Testbed) WaitRunCompleted(tt testing.TB, run *chaosv1alpha1.ExperimentRun, timeout time.Duration) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	got := &chaosv1alpha1.ExperimentRun{}
	waitFor(tt, timeout, "run "+run.Name+" to complete", func(ctx context.Context) (bool, error) {
		if err := t.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		if got.Status.Phase != chaosv1alpha1.PhaseCompleted {
			return false, fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
		}
		return true, nil
	})
	return got
}

// RunExperiment creates exp (deleted when the test ends), runs it once and
// returns the completed run.
func (t *Testbed) RunExperiment(tt testing.TB, exp *chaosv1alpha1.Experiment, timeout time.Duration) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	t.Create(tt, exp)
	return t.WaitRunCompleted(tt, t.StartRun(tt, exp), timeout)
}

// --- small helpers ---------------------------------------------------------

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

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func samePath(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// apiserverAnswers reports whether the cluster of kubeconfig answers /readyz.
func apiserverAnswers(ctx context.Context, kubeconfig string) bool {
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

func httpOK(ctx context.Context, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return true, nil
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(string(bytes.TrimSpace(b)), &pid); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pid, nil
}

// terminate sends SIGTERM to a process that is not our child and waits
// until it is gone (or a zombie awaiting its parent).
func terminate(pid int, wait time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if !processLive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("process %d still running %s after SIGTERM", pid, wait)
}

// processLive reports whether pid runs: it exists and is not a zombie.
func processLive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// within reports whether got is within tolerance of want.
func within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance
}

// isNotFound is apierrors.IsNotFound, shorter in conditions.
func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
