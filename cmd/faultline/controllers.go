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
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/controllers/reaper"
	"github.com/faultline-dev/faultline/experiments/faults"
)

// operatorLabels identify the operator's own pods, which are never targets.
var operatorLabels = map[string]string{"app.kubernetes.io/name": "faultline"}

// setupControllers registers every controller and the faults they may inject.
func setupControllers(mgr ctrl.Manager, opts options) error {
	c := mgr.GetClient()
	// Faults and target selection read the API server directly: acting on
	// a stale cached copy (a pod already replaced, a node someone just
	// cordoned) is exactly what the safety invariants forbid.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("creating the direct client: %w", err)
	}
	istio, err := istioclient.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("creating the Istio client: %w", err)
	}
	realClock := clock.RealClock{}
	registry := faults.Registry{
		PodKill: func(spec chaosv1alpha1.PodKillFault) faults.Fault { return faults.NewPodKill(direct, spec) },
		Istio: func(spec chaosv1alpha1.IstioFault) faults.Fault {
			return faults.NewIstio(istio, spec).WithClock(realClock)
		},
		NodeDrain: func(spec chaosv1alpha1.NodeDrainFault) faults.Fault {
			return faults.NewNodeDrain(direct, realClock, spec)
		},
	}
	// Target choice is random by design; the seed need not be secret.
	selector := experimentrun.NewSelector(direct, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), opts.namespace, operatorLabels) //nolint:gosec
	selector.Listers[chaosv1alpha1.TargetVirtualService] = experimentrun.ListVirtualServices(istio)
	selector.OperatorNode = opts.nodeName
	runs := &experimentrun.Reconciler{
		Client:    c,
		APIReader: mgr.GetAPIReader(),
		Clock:     clock.RealClock{},
		Recorder:  mgr.GetEventRecorder("faultline"),
		Faults:    registry,
		Samplers:  &experimentrun.Samplers{Client: c},
		// Target choice is random by design; the seed need not be secret.
		Targets: selector,
		Metrics: experimentrun.NewMetrics(metrics.Registry),
	}
	if err := runs.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the experimentrun controller: %w", err)
	}
	schedules := &experiment.Reconciler{
		Client:   c,
		Clock:    clock.RealClock{},
		Recorder: mgr.GetEventRecorder("faultline"),
	}
	if err := schedules.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the experiment controller: %w", err)
	}
	// The dead-man switch: artefacts whose run is gone or overdue are
	// reverted at start-up and periodically.
	if err := mgr.Add(&reaper.Reaper{
		Client: direct, Istio: istio, Clock: realClock,
		Recorder: mgr.GetEventRecorder("faultline-reaper"), Period: opts.reapPeriod,
	}); err != nil {
		return fmt.Errorf("adding the reaper: %w", err)
	}
	return nil
}
