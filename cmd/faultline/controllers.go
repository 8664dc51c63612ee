package main

import (
	"fmt"
	"math/rand/v2"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/controllers/reaper"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/internal/access"
)

// operatorLabels identify the operator's own pods, which are never targets.
var operatorLabels = map[string]string{"app.kubernetes.io/name": "faultline"}

// setupControllers registers every controller and the faults they may
// inject, and returns the run metrics the admission webhooks count
// approvals in.
func setupControllers(mgr ctrl.Manager, opts options) (*experimentrun.Metrics, error) {
	c := mgr.GetClient()
	// Faults and target selection read the API server directly: acting on
	// a stale cached copy (a pod already replaced, a node someone just
	// cordoned) is exactly what the safety invariants forbid.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("creating the direct client: %w", err)
	}
	watches, err := client.NewWithWatch(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("creating the watch client: %w", err)
	}
	istio, err := istioclient.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating the Istio client: %w", err)
	}
	realClock := clock.RealClock{}
	runMetrics, reaperMetrics := registerMetrics(metrics.Registry)
	// Target choice is random by design; the seed need not be secret.
	selector := experimentrun.NewSelector(direct, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), opts.namespace, operatorLabels) //nolint:gosec
	selector.Listers[chaosv1alpha1.TargetVirtualService] = experimentrun.ListVirtualServices(istio)
	selector.OperatorNode = opts.nodeName
	selector.Workers = opts.targetWorkers
	registry := faults.Registry{
		PodKill: func(spec chaosv1alpha1.PodKillFault) faults.Fault { return faults.NewPodKill(direct, spec) },
		Istio: func(spec chaosv1alpha1.IstioFault) faults.Fault {
			return faults.NewIstio(istio, spec).WithClock(realClock)
		},
		NodeDrain: func(spec chaosv1alpha1.NodeDrainFault) faults.Fault {
			// A drain evicts only pods of namespaces the ChaosPolicy lets
			// runs target, read as target selection reads it.
			return faults.NewNodeDrain(direct, realClock, spec).WithEvictionScope(selector)
		},
	}
	runs := &experimentrun.Reconciler{
		Client: c,
		// Experiments and runs are cached as unstructured objects, decoded
		// one by one: a malformed one must not keep the manager from
		// syncing, nor stop the other runs, the kill switch or the reaper.
		Experiments: mgr.GetCache(),
		Runs:        mgr.GetCache(),
		APIReader:   mgr.GetAPIReader(),
		Clock:       clock.RealClock{},
		Recorder:    mgr.GetEventRecorder("faultline"),
		Faults:      registry,
		// Secrets are read live: the operator may only get them, and a
		// Secret informer would never sync.
		// Workload probes are answered by watches on the probed objects
		// alone, dated by the run's clock.
		Samplers: &experimentrun.Samplers{Client: c, Secrets: mgr.GetAPIReader(), Watches: watches, Clock: realClock},
		// Target choice is random by design; the seed need not be secret.
		Targets:                 selector,
		Metrics:                 runMetrics,
		MaxConcurrentReconciles: opts.runWorkers,
		TargetWorkers:           opts.targetWorkers,
	}
	if opts.webhook.enabled {
		// Rights, the provider allow-list and the approver are re-checked
		// when each run starts. Only the webhook records requesters, so
		// without it (test set-ups) the checks would refuse every run.
		runs.Access = &access.Checker{Client: c, Timeout: access.DefaultTimeout}
	}
	if err := setupAlertReceiver(mgr, opts.alertReceiver, runs, ctrl.Log.WithName("setup")); err != nil {
		return nil, err
	}
	if err := runs.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the experimentrun controller: %w", err)
	}
	schedules := &experiment.Reconciler{
		Client:      c,
		Experiments: mgr.GetCache(),
		Runs:        mgr.GetCache(),
		Clock:       clock.RealClock{},
		Recorder:    mgr.GetEventRecorder("faultline"),

		MaxConcurrentReconciles: opts.experimentWorkers,
	}
	if err := schedules.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the experiment controller: %w", err)
	}
	policies := &chaospolicy.Reconciler{Client: c, Runs: mgr.GetCache(), Clock: realClock, Recorder: mgr.GetEventRecorder("faultline")}
	if err := policies.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the chaospolicy controller: %w", err)
	}
	// The dead-man switch: artefacts whose run is gone, overdue or cannot
	// be read are reverted at start-up and periodically. It reads runs
	// live and unstructured, and judges expiry from the artefact alone.
	if err := mgr.Add(&reaper.Reaper{
		Client: direct, Istio: istio, Clock: realClock,
		Recorder: mgr.GetEventRecorder("faultline-reaper"), Period: opts.reapPeriod,
		Metrics: reaperMetrics,
	}); err != nil {
		return nil, fmt.Errorf("adding the reaper: %w", err)
	}
	return runMetrics, nil
}
