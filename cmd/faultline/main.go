// Command faultline is the Faultline operator: it runs chaos experiments as
// hypothesis tests and reports on ExperimentRun objects.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
)

// defaultGCPercent is the operator's GOGC unless the environment sets one.
const defaultGCPercent = 50

// options are the operator's command-line settings.
type options struct {
	metricsAddr    string
	probeAddr      string
	pprofAddr      string
	leaderElection bool
	leaderElectNS  string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
	namespace      string
	nodeName       string
	reapPeriod     time.Duration
	// runWorkers is how many runs are driven at once.
	runWorkers int
	// experimentWorkers is how many Experiments are reconciled at once.
	experimentWorkers int
	// targetWorkers is how many targets of one run are acted on at once.
	targetWorkers int
	// apiQPS and apiBurst cap the API client; zero leaves it uncapped,
	// relying on the API server's Priority and Fairness.
	apiQPS   float64
	apiBurst int
	// metricsSecure serves metrics over HTTPS to authenticated, authorized
	// callers only.
	metricsSecure  bool
	metricsCertDir string
	enableHTTP2    bool
	webhook        webhookOptions
	alertReceiver  alertReceiverOptions
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "faultline:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts options
	flag.StringVar(&opts.metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&opts.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&opts.pprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints, for profiling the operator's CPU and memory; \"0\" (the default) disables them. Bind it to localhost: profiles are not authenticated.")
	flag.BoolVar(&opts.leaderElection, "leader-elect", false, "Elect a leader, so only one replica drives runs at a time.")
	flag.StringVar(&opts.leaderElectNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to the in-cluster namespace.")
	flag.DurationVar(&opts.leaseDuration, "leader-election-lease-duration", defaultLeaseDuration, "How long a replica waits, after the leader was last heard from, before it takes over: the longest a crashed leader's runs go undriven.")
	flag.DurationVar(&opts.renewDeadline, "leader-election-renew-deadline", defaultRenewDeadline, "How long the leader keeps trying to renew its lease before it gives up leading and exits; shorter than --leader-election-lease-duration.")
	flag.DurationVar(&opts.retryPeriod, "leader-election-retry-period", defaultRetryPeriod, "How often replicas try to take or renew the lease; shorter than --leader-election-renew-deadline.")
	flag.StringVar(&opts.namespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "Namespace the operator runs in; its pods are never targets.")
	flag.StringVar(&opts.nodeName, "operator-node", os.Getenv("NODE_NAME"), "Node the operator runs on; it is never drained.")
	flag.DurationVar(&opts.reapPeriod, "reap-period", 30*time.Second, "How often the reaper looks for faults whose run is gone or overdue.")
	flag.IntVar(&opts.runWorkers, "run-workers", experimentrun.DefaultMaxConcurrentReconciles, "How many runs are driven at once, so one slow run never holds the kill switch from the others.")
	flag.IntVar(&opts.experimentWorkers, "experiment-workers", experiment.DefaultMaxConcurrentReconciles, "How many Experiments are reconciled at once; schedules falling due together start this many runs in parallel.")
	flag.IntVar(&opts.targetWorkers, "target-workers", experimentrun.DefaultTargetWorkers, "How many targets of one run are prepared, injected or reverted at once.")
	flag.Float64Var(&opts.apiQPS, "kube-api-qps", 0, "Requests per second the operator's API client may make on average; 0 sets no client-side limit and leaves fairness to the API server's Priority and Fairness.")
	flag.IntVar(&opts.apiBurst, "kube-api-burst", 0, "Requests the API client may make in a burst above --kube-api-qps; 0 means twice the QPS. Only used with --kube-api-qps.")
	flag.BoolVar(&opts.metricsSecure, "metrics-secure", false, "Serve metrics over HTTPS, only to callers whose token the API server authenticates and who may get the /metrics non-resource URL (the faultline-metrics-reader ClusterRole). Off by default for local runs; the chart and config/default turn it on.")
	flag.StringVar(&opts.metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for --metrics-secure; empty means a self-signed certificate made at start.")
	flag.BoolVar(&opts.enableHTTP2, "enable-http2", false, "Offer HTTP/2 on the webhook and metrics servers. Off by default: HTTP/2 stream resets (CVE-2023-44487, CVE-2023-39325) let one client exhaust the server.")
	bindWebhookFlags(flag.CommandLine, &opts.webhook)
	bindAlertReceiverFlags(flag.CommandLine, &opts.alertReceiver)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	// controller-runtime registers --kubeconfig on the default flag set.
	flag.Parse()

	if os.Getenv("GOGC") == "" {
		// Half Go's default heap growth: the operator's live heap is small
		// and mostly idle, and this keeps its resident memory under 80 MiB
		// beside a big cluster for little CPU. GOGC overrides it.
		debug.SetGCPercent(defaultGCPercent)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	if err := opts.webhook.validate(opts.namespace); err != nil {
		return err
	}
	if err := opts.validateLimits(); err != nil {
		return err
	}
	if err := opts.alertReceiver.validate(); err != nil {
		return err
	}
	// SetupSignalHandler cancels the context on SIGINT/SIGTERM; the manager
	// then stops its controllers and returns, which is the graceful shutdown.
	ctx := ctrl.SetupSignalHandler()

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	opts.applyClientLimits(cfg)
	tlsOpts := serverTLSOpts(opts.enableHTTP2)
	metrics := metricsserver.Options{BindAddress: opts.metricsAddr}
	if opts.metricsSecure {
		metrics.SecureServing = true
		metrics.CertDir = opts.metricsCertDir
		metrics.TLSOpts = tlsOpts
		// TokenReview for who calls, SubjectAccessReview for whether they
		// may get /metrics: the figures name namespaces, experiments and
		// targets, which not every workload in the cluster should read.
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	ready := make(certsReady)
	var webhookServer webhook.Server
	if opts.webhook.enabled {
		webhookServer = newWebhookServer(opts.webhook, ready, tlsOpts)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metrics,
		WebhookServer:          webhookServer,
		HealthProbeBindAddress: opts.probeAddr,
		PprofBindAddress:       opts.pprofAddr,
		// Cached objects are kept without managedFields, which nothing
		// reads and which can be as large as the rest of an object: with
		// a thousand Experiments and their runs it is memory for nothing.
		// The transform applies to the unstructured informers Experiments
		// and runs are cached in as much as to typed ones.
		Cache:                   cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		LeaderElection:          opts.leaderElection,
		LeaderElectionID:        "faultline.chaos.faultline.dev",
		LeaderElectionNamespace: opts.leaderElectNS,
		// A new leader must not wait out the old one's lease after a clean
		// shutdown: runs in flight resume sooner.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &opts.leaseDuration,
		RenewDeadline:                 &opts.renewDeadline,
		RetryPeriod:                   &opts.retryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	runMetrics, err := setupControllers(mgr, opts)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	if opts.webhook.enabled {
		if err := setupWebhooks(ctx, mgr, opts.webhook, opts.namespace, ready, runMetrics.ObserveApproval); err != nil {
			return err
		}
	}

	log.Info("starting manager", "metrics", opts.metricsAddr, "metricsSecure", opts.metricsSecure, "health", opts.probeAddr,
		"leaderElection", opts.leaderElection, "webhooks", opts.webhook.enabled, "webhookPort", opts.webhook.port, "webhookCertMode", opts.webhook.certMode)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// serverTLSOpts are the TLS settings of the webhook and metrics servers:
// HTTP/1.1 only unless enableHTTP2, since HTTP/2 rapid resets
// (CVE-2023-44487, CVE-2023-39325) let one client exhaust the server.
func serverTLSOpts(enableHTTP2 bool) []func(*tls.Config) {
	if enableHTTP2 {
		return nil
	}
	return []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
}
