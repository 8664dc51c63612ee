// Command faultline is the Faultline operator: it runs chaos experiments as
// hypothesis tests and reports on ExperimentRun objects.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// options are the operator's command-line settings.
type options struct {
	metricsAddr    string
	probeAddr      string
	leaderElection bool
	leaderElectNS  string
	namespace      string
	nodeName       string
	reapPeriod     time.Duration
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
	flag.BoolVar(&opts.leaderElection, "leader-elect", false, "Elect a leader, so only one replica drives runs at a time.")
	flag.StringVar(&opts.leaderElectNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to the in-cluster namespace.")
	flag.StringVar(&opts.namespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "Namespace the operator runs in; its pods are never targets.")
	flag.StringVar(&opts.nodeName, "operator-node", os.Getenv("NODE_NAME"), "Node the operator runs on; it is never drained.")
	flag.DurationVar(&opts.reapPeriod, "reap-period", 30*time.Second, "How often the reaper looks for faults whose run is gone or overdue.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	// controller-runtime registers --kubeconfig on the default flag set.
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: opts.metricsAddr},
		HealthProbeBindAddress:  opts.probeAddr,
		LeaderElection:          opts.leaderElection,
		LeaderElectionID:        "faultline.chaos.faultline.dev",
		LeaderElectionNamespace: opts.leaderElectNS,
		// A new leader must not wait out the old one's lease after a clean
		// shutdown: runs in flight resume sooner.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := setupControllers(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}

	log.Info("starting manager", "metrics", opts.metricsAddr, "health", opts.probeAddr, "leaderElection", opts.leaderElection)
	// SetupSignalHandler cancels the context on SIGINT/SIGTERM; the manager
	// then stops its controllers and returns, which is the graceful shutdown.
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
