package experimentrun_test

import (
	"context"
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// watchedSamplers answers workload probes from the real Samplers' per-run
// watches, and Prometheus from the test's script.
type watchedSamplers struct {
	inner *experimentrun.Samplers
	env   *env
}

func (w watchedSamplers) For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*providers.Sampler, error) {
	s, err := w.inner.For(ctx, namespace, spec)
	if err != nil {
		return nil, err
	}
	s.Metrics = scriptedMetrics{script: w.env}
	return s, nil
}

func (w watchedSamplers) ForRun(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (*providers.Sampler, error) {
	s, err := w.inner.ForRun(ctx, run)
	if err != nil {
		return nil, err
	}
	s.Metrics = scriptedMetrics{script: w.env}
	return s, nil
}

func (w watchedSamplers) Release(run *chaosv1alpha1.ExperimentRun) { w.inner.Release(run) }

// TestRunWatchesCloseWhenTheRunFinishes: a run's workload probes are
// answered by watches that live while it samples and are closed, their
// goroutines stopped, once it has its verdict.
func TestRunWatchesCloseWhenTheRunFinishes(t *testing.T) {
	e := newEnv(t)
	wc, err := client.NewWithWatch(k8sConfig, client.Options{Scheme: k8sClient.Scheme()})
	if err != nil {
		t.Fatalf("creating the watch client: %v", err)
	}
	samplers := &experimentrun.Samplers{Client: e.c, Watches: wc, Clock: e.clock}
	e.r.Samplers = watchedSamplers{inner: samplers, env: e}
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)

	e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	if n := samplers.WatchedRuns(); n != 1 {
		t.Fatalf("%d runs have watches while the run observes, want 1", n)
	}
	run := e.drive(key, released)
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Errorf("verdict = %q, want Passed; message %q", run.Status.Verdict, run.Status.Message)
	}
	if n := samplers.WatchedRuns(); n != 0 {
		t.Errorf("%d runs still have watches after the run finished, want none", n)
	}
}

// TestRunWatchesCloseWhenTheRunIsDeleted: deleting a run mid-observation
// closes its watches too.
func TestRunWatchesCloseWhenTheRunIsDeleted(t *testing.T) {
	e := newEnv(t)
	wc, err := client.NewWithWatch(k8sConfig, client.Options{Scheme: k8sClient.Scheme()})
	if err != nil {
		t.Fatalf("creating the watch client: %v", err)
	}
	samplers := &experimentrun.Samplers{Client: e.c, Watches: wc, Clock: e.clock}
	e.r.Samplers = watchedSamplers{inner: samplers, env: e}
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)

	run := e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	if n := samplers.WatchedRuns(); n != 1 {
		t.Fatalf("%d runs have watches while the run observes, want 1", n)
	}
	if err := e.c.Delete(t.Context(), run); err != nil {
		t.Fatalf("deleting run: %v", err)
	}
	e.drive(key, gone)
	if n := samplers.WatchedRuns(); n != 0 {
		t.Errorf("%d runs still have watches after the run was deleted, want none", n)
	}
}

// TestWatchedWorkloadPlacesCrossingsAtTheAPIsInstants runs the engine with
// the real Samplers on a fake clock, against a real API server: the web
// Deployment turns not ready 50ms after the injection and ready again at
// +3.3s, between samples a second apart. The run's deviation and recovery
// are the instants the watch saw those changes, not the next samples.
func TestWatchedWorkloadPlacesCrossingsAtTheAPIsInstants(t *testing.T) {
	e := newEnv(t)
	wc, err := client.NewWithWatch(k8sConfig, client.Options{Scheme: k8sClient.Scheme()})
	if err != nil {
		t.Fatalf("creating the watch client: %v", err)
	}
	e.createWeb()
	samplers := &experimentrun.Samplers{Client: e.c, Watches: wc, Clock: e.clock}
	spec := experimentSpec()
	spec.Provider = nil
	spec.SteadyState.Probes = spec.SteadyState.Probes[:1] // web-ready alone
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "watched", UID: "watched-run"},
		Status:     chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending, Experiment: &spec},
	}
	defer samplers.Release(run)
	er := engine.Run{Spec: &spec, Status: &run.Status}
	er.Start(e.clock.Now())

	// advance plays the controller until the fake clock reaches until, or
	// until done holds.
	advance := func(until time.Time, done func() bool) {
		t.Helper()
		for steps := 0; e.clock.Now().Before(until) && !er.Finished() && !done(); steps++ {
			if steps > 1000 {
				t.Fatalf("the run stalled in %s", run.Status.Phase)
			}
			now := e.clock.Now()
			next := er.Next(now)
			switch next.Action {
			case engine.ActionWait:
				e.clock.Step(min(next.After, until.Sub(now)))
			case engine.ActionSample:
				sampler, err := samplers.ForRun(t.Context(), run)
				if err != nil {
					t.Fatalf("building the sampler: %v", err)
				}
				er.ApplySample(sampler.Sample(t.Context(), e.ns, &spec, now, next.Set))
			case engine.ActionSelectTargets:
				er.ApplyTargets([]chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetPod, Namespace: e.ns, Name: "web-a", Phase: chaosv1alpha1.TargetSelected}}, "", nil, now)
			case engine.ActionInject:
				run.Status.Targets[0].Phase, run.Status.Targets[0].InjectedAt = chaosv1alpha1.TargetInjected, ptr.To(metav1.NewMicroTime(now))
				er.ApplyInjected(now)
			case engine.ActionRevert:
				run.Status.Targets[0].Phase = chaosv1alpha1.TargetReverted
				er.ApplyReverted(now)
			case engine.ActionNone:
				return
			}
		}
	}
	// setReadyAt writes the ready replicas at the fake instant at and waits,
	// the clock held, until the run's watch has seen the change.
	setReadyAt := func(at time.Time, ready int32) {
		t.Helper()
		advance(at, func() bool { return false })
		e.setReady(ready)
		sampler, err := samplers.ForRun(t.Context(), run)
		if err != nil {
			t.Fatalf("building the sampler: %v", err)
		}
		want := 100 * float64(ready) / 3
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, _, err := sampler.Workloads.Readiness(t.Context(), e.ns, *spec.SteadyState.Probes[0].Workload)
			if err == nil && math.Abs(v-want) < 0.01 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watch never saw %d ready replicas (last %v, %v)", ready, v, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	end := t0.Add(time.Hour)
	advance(end, func() bool { return run.Status.Timeline.InjectedAt != nil })
	if run.Status.Timeline.InjectedAt == nil {
		t.Fatalf("nothing was injected: %s", run.Status.Message)
	}
	injected := run.Status.Timeline.InjectedAt.Time
	notReadyAt, readyAt := injected.Add(50*time.Millisecond), injected.Add(3300*time.Millisecond)
	setReadyAt(notReadyAt, 1)
	setReadyAt(readyAt, 3)
	advance(end, func() bool { return false })

	st := run.Status
	if st.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict = %q, want Passed; message %q", st.Verdict, st.Message)
	}
	tl := st.Timeline
	for name, c := range map[string]struct {
		got  *metav1.MicroTime
		want time.Time
	}{"deviatedAt": {tl.DeviatedAt, notReadyAt}, "recoveredAt": {tl.RecoveredAt, readyAt}} {
		if c.got == nil || c.got.Sub(c.want).Abs() > 50*time.Millisecond {
			t.Errorf("timeline.%s = %s, want within 50ms of start+%s", name, at(c.got), c.want.Sub(t0))
		}
	}
	for _, fr := range st.Result.Resolutions {
		if fr.Source != chaosv1alpha1.ResolutionEvent {
			t.Errorf("%s resolution = %s within %s, want Event", fr.Figure, fr.Source, fr.Within.Duration)
		}
	}
	if len(st.Result.Resolutions) != 2 {
		t.Errorf("resolutions = %+v, want timeToDetect and timeToRecover", st.Result.Resolutions)
	}
	t.Logf("%s", st.Message)
}
