package engine

import (
	"slices"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// A sample sees a Prometheus probe cross up to one interval after it did
// (a whole gap, after one). Prometheus can say more sharply, after the
// fact, by evaluating the probe at every step of the window: the run asks
// for that once its observation is over, before the verdict. The engine
// says which crossings to refine (Next with ActionRefine), the controller
// runs the range queries (probes.Refine), and ApplyRefinements checks and
// applies what came back, then finishes the run.
//
// Only crossings made by Prometheus probes alone are refined: a workload
// probe is dated by its watch or not at all, and cannot be re-evaluated.
// A deviation is refined over the probes that failed at the sample that
// saw it. A recovery is refined only when every steady-state probe is a
// Prometheus probe, and over all of them: the steady state returns when the
// last probe passes again, and a probe that passed already at the sample
// before may have returned later than the one that began the streak.

// refinable says whether the crossing the results make, placed with
// resolution res, can be re-evaluated by range queries, and names their
// probes: every one must be a Prometheus probe that answered, and the
// crossing must not already be dated by an event.
func (r Run) refinable(results []probes.Result, res chaosv1alpha1.Resolution) ([]string, bool) {
	if len(results) == 0 || res.Source == chaosv1alpha1.ResolutionEvent {
		return nil, false
	}
	names := make([]string, 0, len(results))
	for _, c := range results {
		if c.Err != nil || !r.prometheusProbe(c.Name) {
			return nil, false
		}
		names = append(names, c.Name)
	}
	return names, true
}

// returning is the results of sample s whose re-evaluation can place the
// start of a passing streak: every steady-state probe's, when all are
// Prometheus probes; none otherwise.
func (r Run) returning(s probes.Sample) []probes.Result {
	for _, p := range r.Spec.SteadyState.Probes {
		if !r.prometheusProbe(p.Name) {
			return nil
		}
	}
	var out []probes.Result
	for _, res := range s.Results {
		if res.Kind == chaosv1alpha1.ProbeKindSteadyState {
			out = append(out, res)
		}
	}
	return out
}

func (r Run) prometheusProbe(name string) bool {
	for _, p := range r.Spec.SteadyState.Probes {
		if p.Name == name {
			return p.Prometheus != nil && p.Condition != nil
		}
	}
	return false
}

// requestRefinement records that instant, made by the Prometheus probes
// names, is to be refined before the verdict.
func (r Run) requestRefinement(instant string, names []string) {
	p := &r.Status.Progress
	p.Refine = slices.DeleteFunc(p.Refine, func(c chaosv1alpha1.CrossingToRefine) bool { return c.Instant == instant })
	p.Refine = append(p.Refine, chaosv1alpha1.CrossingToRefine{Instant: instant, Probes: slices.Clone(names)})
}

// crossings are the crossings awaiting refinement, each with its window:
// from the injection to the sample that placed it.
func (r Run) crossings() []probes.Crossing {
	st := r.Status
	if st.Timeline.InjectedAt == nil {
		return nil
	}
	var out []probes.Crossing
	for _, c := range st.Progress.Refine {
		at, kind := r.instantOf(c.Instant)
		if at == nil {
			continue
		}
		out = append(out, probes.Crossing{Instant: c.Instant, Kind: kind, Probes: slices.Clone(c.Probes), From: st.Timeline.InjectedAt.Time, To: *at})
	}
	return out
}

// instantOf is the current value of a refinable timeline instant and the
// crossing it is.
func (r Run) instantOf(instant string) (*time.Time, probes.CrossingKind) {
	tl := r.Status.Timeline
	switch instant {
	case "deviatedAt":
		if tl.DeviatedAt != nil {
			return &tl.DeviatedAt.Time, probes.CrossingDeviation
		}
	case "recoveredAt":
		if tl.RecoveredAt != nil {
			return &tl.RecoveredAt.Time, probes.CrossingRecovery
		}
	}
	return nil, ""
}

// ApplyRefinements places each requested crossing at the instant its
// re-evaluation found, when that is believable, and finishes the run as of
// when its observation ended (refineRequestedAt): a refinement that came
// late, after a restart say, must not add a gap or move the verdict's time. A
// refined instant must lie between the injection and the sample that
// placed the crossing (a recovery also no earlier than the deviation): a
// range query never makes an instant later than a sample saw it, nor
// earlier than the fault. A crossing that could not be refined, or whose
// refinement is not believable, keeps its sampled instant and resolution.
func (r Run) ApplyRefinements(refined []probes.Refined) []Event {
	st := r.Status
	if st.Progress.RefineRequestedAt == nil || st.Phase == chaosv1alpha1.PhaseCompleted {
		// Nothing asked for: a crossing is refined only once the
		// observation is over.
		return nil
	}
	byInstant := map[string]probes.Refined{}
	for _, rf := range refined {
		byInstant[rf.Instant] = rf
	}
	// The deviation first: it bounds the recovery.
	for _, instant := range []string{"deviatedAt", "recoveredAt"} {
		if !slices.ContainsFunc(st.Progress.Refine, func(c chaosv1alpha1.CrossingToRefine) bool { return c.Instant == instant }) {
			continue
		}
		rf, ok := byInstant[instant]
		if !ok || rf.Err != nil || rf.Within <= 0 || st.Timeline.InjectedAt == nil {
			continue
		}
		sampled, _ := r.instantOf(instant)
		if sampled == nil || rf.At.Before(st.Timeline.InjectedAt.Time) || rf.At.After(*sampled) {
			continue
		}
		if instant == "recoveredAt" && st.Timeline.DeviatedAt != nil && rf.At.Before(st.Timeline.DeviatedAt.Time) {
			continue
		}
		switch instant {
		case "deviatedAt":
			st.Timeline.DeviatedAt = micro(rf.At)
		case "recoveredAt":
			st.Timeline.RecoveredAt = micro(rf.At)
		}
		setInstantResolution(st, instant, chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionRangeQuery, Within: *duration(rf.Within)})
	}
	ended := st.Progress.RefineRequestedAt.Time
	st.Progress.Refine, st.Progress.RefineRequestedAt = nil, nil
	return r.finish(ended)
}
