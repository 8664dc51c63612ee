package providers

import (
	"context"
	"errors"
	"fmt"
	"github.com/faultline-dev/faultline/experiments/probes"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ErrNoProvider means a check needs Prometheus but the Experiment configures
// no Prometheus provider.
var ErrNoProvider = errors.New("no Prometheus provider configured")

// Sampler takes one Sample of an Experiment's checks.
type Sampler struct {
	// Metrics answers Prometheus probes, guards and detection alerts. It is
	// nil when the Experiment configures no Prometheus provider; those checks
	// then report ErrNoProvider.
	Metrics probes.MetricsProvider
	// Reader reads the workloads of workload probes when Workloads is nil.
	Reader client.Reader
	// Workloads, when set, answers workload probes instead of Reader, and
	// dates their changes (Result.Since).
	Workloads WorkloadStates
}

// Sample runs the checks set selects, all at the instant at, and returns
// their Results: steady-state probes in spec order, then guards in spec
// order, then one Result per detection alert in spec order. The order is
// fixed so callers can match Results to the spec by position or by name.
//
// The checks run concurrently: each may wait up to the provider's timeout,
// and one slow query must not delay the rest of a sample that guards rely on
// to abort in time. A check that cannot be measured has Err set and Pass
// false; Sample itself never fails.
func (s *Sampler) Sample(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec, at time.Time, set probes.Set) probes.Sample {
	sample := probes.Sample{At: at}
	if spec == nil {
		return sample
	}

	// Each job fills the Results from first to first+count; the slots are
	// laid out before any job starts, so jobs never race on the slice itself.
	type job struct {
		first, count int
		fill         func(out []probes.Result)
	}
	var jobs []job
	add := func(results []probes.Result, fill func(out []probes.Result)) {
		jobs = append(jobs, job{first: len(sample.Results), count: len(results), fill: fill})
		sample.Results = append(sample.Results, results...)
	}

	if set.Probes {
		for _, probe := range spec.SteadyState.Probes {
			result := probes.Result{Name: probe.Name, Kind: chaosv1alpha1.ProbeKindSteadyState}
			switch {
			case probe.Prometheus != nil && probe.Condition != nil:
				result.Condition = *probe.Condition
				query := probe.Prometheus.Query
				add([]probes.Result{result}, func(out []probes.Result) { s.queryMetric(ctx, query, at, &out[0]) })
			case probe.Prometheus != nil:
				result.Err = fmt.Errorf("probe %q has a prometheus query but no condition", probe.Name)
				add([]probes.Result{result}, nil)
			case probe.Workload != nil:
				workload := *probe.Workload
				result.Condition = probes.WorkloadHypothesis(workload)
				add([]probes.Result{result}, func(out []probes.Result) { s.readWorkload(ctx, namespace, workload, &out[0]) })
			case probe.SLO != nil:
				// The run derives the SLO's query when it starts; a spec
				// handed here without it cannot be sampled.
				result.Err = fmt.Errorf("probe %q references an SLO whose query was not derived", probe.Name)
				add([]probes.Result{result}, nil)
			default:
				result.Err = fmt.Errorf("probe %q sets neither prometheus nor workload", probe.Name)
				add([]probes.Result{result}, nil)
			}
		}
	}

	if set.Guards && spec.Abort != nil {
		for _, guard := range spec.Abort.Guards {
			result := probes.Result{Name: guard.Name, Kind: chaosv1alpha1.ProbeKindGuard, Condition: guard.Condition}
			query := guard.Prometheus.Query
			if guard.SLO != nil || query == "" {
				result.Err = fmt.Errorf("guard %q references an SLO whose query was not derived", guard.Name)
				add([]probes.Result{result}, nil)
				continue
			}
			add([]probes.Result{result}, func(out []probes.Result) { s.queryMetric(ctx, query, at, &out[0]) })
		}
	}

	if set.Alerts && spec.Detection != nil && len(spec.Detection.Alerts) > 0 {
		alerts := spec.Detection.Alerts
		results := make([]probes.Result, len(alerts))
		for i, alert := range alerts {
			results[i] = probes.Result{Name: alert, Kind: chaosv1alpha1.ProbeKindAlert, Condition: probes.AlertHypothesis}
		}
		add(results, func(out []probes.Result) { s.checkAlerts(ctx, alerts, at, out) })
	}

	if set.Groups != nil {
		sample.Groups = []probes.Result{{Name: "experiment"}, {Name: "control"}}
		queries := [2]string{set.Groups.Experiment, set.Groups.Control}
		for i := range sample.Groups {
			out := &sample.Groups[i]
			jobs = append(jobs, job{fill: func([]probes.Result) { s.measureGroup(ctx, queries[i], at, out) }})
		}
	}

	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.fill == nil {
			continue
		}
		out := sample.Results[j.first : j.first+j.count]
		wg.Go(func() { j.fill(out) })
	}
	wg.Wait()
	return sample
}

// measureGroup takes one value of a comparison group: unjudged, since a
// group is only judged against the other, at the end.
func (s *Sampler) measureGroup(ctx context.Context, query string, at time.Time, r *probes.Result) {
	if s.Metrics == nil {
		r.Err = ErrNoProvider
		return
	}
	r.Value, r.Err = s.Metrics.Query(ctx, query, at)
}

func (s *Sampler) queryMetric(ctx context.Context, query string, at time.Time, r *probes.Result) {
	if s.Metrics == nil {
		r.Err = ErrNoProvider
		return
	}
	value, err := s.Metrics.Query(ctx, query, at)
	if err != nil {
		r.Err = err
		return
	}
	judge(value, r)
}

func (s *Sampler) readWorkload(ctx context.Context, namespace string, w chaosv1alpha1.WorkloadProbe, r *probes.Result) {
	if s.Workloads != nil {
		value, since, err := s.Workloads.Readiness(ctx, namespace, w)
		if err != nil {
			r.Err = err
			return
		}
		judge(value, r)
		r.Since = since
		return
	}
	if s.Reader == nil {
		r.Err = errors.New("no Kubernetes reader configured for workload probes")
		return
	}
	value, err := WorkloadReadiness(ctx, s.Reader, namespace, w)
	if err != nil {
		r.Err = err
		return
	}
	judge(value, r)
}

func (s *Sampler) checkAlerts(ctx context.Context, alerts []string, at time.Time, out []probes.Result) {
	if s.Metrics == nil {
		for i := range out {
			out[i].Err = ErrNoProvider
		}
		return
	}
	firing, err := probes.AlertFiring(ctx, s.Metrics, alerts, at)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return
	}
	isFiring := make(map[string]bool, len(firing))
	for _, name := range firing {
		isFiring[name] = true
	}
	since := s.firingSince(ctx, firing)
	for i := range out {
		value := 0.0
		if isFiring[out[i].Name] {
			value = 1
			if f, ok := since[out[i].Name]; ok {
				out[i].Since, out[i].SinceWithin = f.Since, f.EvaluationInterval
			}
		}
		judge(value, &out[i])
	}
}

// firingSince asks Prometheus' alert state when the firing alerts started
// firing, when the provider can. It is asked only when some alert fires,
// which a run sees once: afterwards it samples alerts no more. Its failure
// leaves the alerts undated (the sample dates them), never unmeasured: the
// ALERTS query already said they fire.
func (s *Sampler) firingSince(ctx context.Context, firing []string) map[string]probes.AlertFiringTime {
	states, ok := s.Metrics.(probes.AlertStates)
	if !ok || len(firing) == 0 {
		return nil
	}
	since, err := states.FiringSince(ctx, firing)
	if err != nil {
		logr.FromContextOrDiscard(ctx).V(1).Info("Prometheus alert state unavailable; the sample dates the alert", "alerts", firing, "error", err.Error())
		return nil
	}
	return since
}

// judge records value in r and Evaluate's verdict on it. An unusable
// condition leaves the value measured but the check failed with Err.
func judge(value float64, r *probes.Result) {
	r.Value = value
	pass, err := probes.Evaluate(value, r.Condition)
	r.Pass = pass
	r.Err = err
}
