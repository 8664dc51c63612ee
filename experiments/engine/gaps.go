package engine

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// A figure is only as precise as the operator's watch on the system: a
// crossing seen by the first sample after an operator restart happened
// somewhere in the restart, not one interval before that sample. The run
// records every stretch in which it saw nothing (a gap) and gives each
// instant it places the resolution it really has.

// MaxGaps is how many gaps a run lists; later ones are only counted, so a
// run whose probes flap for hours keeps a bounded status.
const MaxGaps = 20

// gapSlack is added to two intervals before the space between two answered
// samples counts as a gap: a sample a little late (a slow query, a busy
// worker) is not one.
const gapSlack = time.Second

// GapThreshold is the longest space between two answered samples that is
// not a gap: two intervals and a second.
func (r Run) GapThreshold() time.Duration { return 2*r.interval() + gapSlack }

// sight is what a sample says about how well the run saw the system.
type sight struct {
	// bound is the last answered sample before this one (or the injection):
	// a change first seen by this sample happened after it. Zero before
	// the first answered sample of the run.
	bound time.Time
	// closed is the gap this sample closed, if it did.
	closed *chaosv1alpha1.SamplingGap
	// unanswered counts the unanswered samples since bound, this one
	// included when it was not answered.
	unanswered int32
	// failingBefore names the steady-state probes that failed at bound.
	failingBefore []string
}

// trackSight folds s into the gap bookkeeping: a sample whose steady-state
// probes all answered after more than GapThreshold without one closes a
// gap, which is recorded.
func (r Run) trackSight(s probes.Sample) sight {
	p := &r.Status.Progress
	v := sight{failingBefore: p.FailingProbes}
	if p.LastAnsweredAt != nil {
		v.bound = p.LastAnsweredAt.Time
	}
	errs, failures := r.partition(s, chaosv1alpha1.ProbeKindSteadyState)
	if len(errs) > 0 {
		p.UnansweredSamples++
		v.unanswered = p.UnansweredSamples
		return v
	}
	v.unanswered = p.UnansweredSamples
	if !v.bound.IsZero() && s.At.Sub(v.bound) > r.GapThreshold() {
		v.closed = r.recordGap(v.bound, s.At, p.UnansweredSamples)
	}
	p.LastAnsweredAt, p.UnansweredSamples = micro(s.At), 0
	p.FailingProbes = nil
	for _, f := range failures {
		p.FailingProbes = append(p.FailingProbes, f.Name)
	}
	return v
}

// A workload probe's watch dates its changes (Result.Since). A crossing
// seen by a sample is placed at the dated change when every change that
// makes it was dated after the previous answered sample (bound): the
// crossing cannot be earlier than that sample, which saw the old state, nor
// later than this one. Otherwise the sample places it, as it always did.

// dated is when res's current state began, if its watch dated that after
// v.bound; a date after the sample (an event that arrived while the sample
// was being taken) counts as the sample.
func dated(res probes.Result, v sight, at time.Time) (time.Time, bool) {
	if res.Since.IsZero() || v.bound.IsZero() || !res.Since.After(v.bound) {
		return time.Time{}, false
	}
	if res.Since.After(at) {
		return at, true
	}
	return res.Since, true
}

// placeDeviation places the deviation seen by sample s, where crossers are
// the probes that fail (or count as failing) in it: at the earliest dated
// change, exactly when every one of them is dated.
func (r Run) placeDeviation(crossers []probes.Result, s probes.Sample, v sight) (time.Time, chaosv1alpha1.Resolution) {
	earliest, allDated := s.At, len(crossers) > 0
	for _, c := range crossers {
		t, ok := dated(c, v, s.At)
		if !ok {
			allDated = false
			continue
		}
		if t.Before(earliest) {
			earliest = t
		}
	}
	if allDated {
		return earliest, chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionEvent}
	}
	return earliest, r.sampleResolution(v, earliest)
}

// placeAlert places the first firing of the alerts seen firing by sample
// s: at the earliest instant Prometheus' alert state gave (Result.Since),
// exactly when every firing alert has one, since an undated one may have
// fired earlier. Unlike a watch event, the previous sample does not bound
// the alert's instant: Prometheus writes the ALERTS series only once the
// evaluation that fired it is done, so a sample taken just after that
// evaluation may still have seen it not firing. The injection bounds it
// instead: an instant before it (another clock, a stale state) is not
// trusted, and one after the sample (an alert that fired while the sample
// was taken) counts as the sample. It also returns the alert's name.
func (r Run) placeAlert(firing []probes.Result, s probes.Sample, v sight) (time.Time, string, chaosv1alpha1.Resolution) {
	var earliest time.Time
	var name string
	var within time.Duration
	allDated := true
	injected := r.Status.Timeline.InjectedAt
	for _, f := range firing {
		if f.Since.IsZero() || injected == nil || f.Since.Before(injected.Time) {
			allDated = false
			break
		}
		t := f.Since
		if t.After(s.At) {
			t = s.At
		}
		if name == "" || t.Before(earliest) {
			earliest, name, within = t, f.Name, f.SinceWithin
		}
	}
	if allDated {
		return earliest, name, chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionAlert, Within: *duration(within)}
	}
	return s.At, firing[0].Name, r.sampleResolution(v, s.At)
}

// placeRecovery places the start of a passing streak seen first by sample
// s: at the latest dated change of the probes that failed at v.bound, when
// all of them are dated; the others were passing already.
func (r Run) placeRecovery(s probes.Sample, v sight) (time.Time, chaosv1alpha1.Resolution) {
	var latest time.Time
	allDated := false
	for _, res := range s.Results {
		if res.Kind != chaosv1alpha1.ProbeKindSteadyState || !slices.Contains(v.failingBefore, res.Name) {
			continue
		}
		t, ok := dated(res, v, s.At)
		if !ok {
			allDated = false
			break
		}
		allDated = true
		if t.After(latest) {
			latest = t
		}
	}
	if allDated {
		return latest, chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionEvent}
	}
	return s.At, r.sampleResolution(v, s.At)
}

// closeOpenGap records the gap a run ends in: one whose last answered
// sample is more than GapThreshold before now, as when probes stopped
// answering until the run aborted.
func (r Run) closeOpenGap(now time.Time) {
	p := r.Status.Progress
	if p.LastAnsweredAt == nil || r.Status.Timeline.InjectedAt == nil || now.Sub(p.LastAnsweredAt.Time) <= r.GapThreshold() {
		return
	}
	r.recordGap(p.LastAnsweredAt.Time, now, p.UnansweredSamples)
}

func (r Run) recordGap(from, to time.Time, unanswered int32) *chaosv1alpha1.SamplingGap {
	g := newGap(from, to, unanswered)
	tl := &r.Status.Timeline
	if len(tl.Gaps) >= MaxGaps {
		tl.GapsOmitted++
		return &g
	}
	tl.Gaps = append(tl.Gaps, g)
	return &g
}

func newGap(from, to time.Time, unanswered int32) chaosv1alpha1.SamplingGap {
	cause := chaosv1alpha1.GapNotSampled
	if unanswered > 0 {
		cause = chaosv1alpha1.GapProbeErrors
	}
	return chaosv1alpha1.SamplingGap{From: metav1.NewMicroTime(from), To: metav1.NewMicroTime(to), Cause: cause, UnansweredSamples: unanswered}
}

// sampleResolution is the resolution of a change first seen by the sample
// at at: it happened after v.bound. Spaced no more than GapThreshold, that
// is the probe interval; further apart, the gap in between.
func (r Run) sampleResolution(v sight, at time.Time) chaosv1alpha1.Resolution {
	bound := v.bound
	if bound.IsZero() {
		// No answered sample is known before this one (a status written
		// before gaps were tracked): nothing says the run was blind.
		return chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionProbeInterval, Within: metav1.Duration{Duration: r.interval()}}
	}
	within := max(at.Sub(bound), 0)
	if within <= r.GapThreshold() {
		return chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionProbeInterval, Within: *duration(within)}
	}
	gap := v.closed
	if gap == nil || !gap.To.Time.Equal(at) {
		// Seen by a sample some probe did not answer (onProbeError
		// Continue): the gap is still open at it.
		g := newGap(bound, at, v.unanswered)
		gap = &g
	}
	return chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionGap, Within: *duration(within), Gap: gap.DeepCopy()}
}

// setInstantResolution records how precisely the named timeline instant is known.
func setInstantResolution(st *chaosv1alpha1.ExperimentRunStatus, instant string, res chaosv1alpha1.Resolution) {
	entry := chaosv1alpha1.InstantResolution{Instant: instant, Resolution: res}
	i := slices.IndexFunc(st.Timeline.Resolutions, func(e chaosv1alpha1.InstantResolution) bool { return e.Instant == instant })
	if i >= 0 {
		st.Timeline.Resolutions[i] = entry
		return
	}
	st.Timeline.Resolutions = append(st.Timeline.Resolutions, entry)
}

func instantResolution(st *chaosv1alpha1.ExperimentRunStatus, instant string) *chaosv1alpha1.Resolution {
	for i := range st.Timeline.Resolutions {
		if st.Timeline.Resolutions[i].Instant == instant {
			return &st.Timeline.Resolutions[i].Resolution
		}
	}
	return nil
}

// figureResolutions says how precisely each figure of the result is known.
// A figure measured from the injection is as precise as the instant it
// ends at. A fault called absorbed is only as sure as the run's sight: a
// deviation inside a gap after the injection would have gone unseen, so
// the longest such gap is its resolution. The decision to abort is the
// operator's own instant, so breachToDecision is as precise as the first
// bad sample: a gap when that sample ended one.
func (r Run) figureResolutions(detectInstant string, absorbed bool) []chaosv1alpha1.FigureResolution {
	st := r.Status
	res := st.Result
	var out []chaosv1alpha1.FigureResolution
	// add records rs for figure, or the probe interval when nothing more
	// precise or less is known (an instant recorded before instants had
	// resolutions): every figure measured has one, so a reader never needs
	// the spec to know it.
	add := func(figure string, rs *chaosv1alpha1.Resolution) {
		if rs == nil {
			rs = &chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionProbeInterval, Within: metav1.Duration{Duration: r.interval()}}
		}
		out = append(out, chaosv1alpha1.FigureResolution{Figure: figure, Resolution: *rs.DeepCopy()})
	}
	if res.TimeToDetect != nil {
		add("timeToDetect", instantResolution(st, detectInstant))
	}
	switch {
	case res.TimeToRecover != nil && absorbed:
		// A deviation shorter than the probe interval, or inside a gap,
		// would have gone unseen.
		var rs *chaosv1alpha1.Resolution
		if g := r.longestGapAfterInjection(); g != nil {
			rs = &chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionGap, Within: *duration(g.To.Sub(g.From.Time)), Gap: g}
		}
		add("timeToRecover", rs)
	case res.TimeToRecover != nil:
		add("timeToRecover", instantResolution(st, "recoveredAt"))
	}
	if res.BreachToDecision != nil && st.Abort != nil {
		first := firstBadSample(st.Abort)
		rs := &chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionProbeInterval, Within: metav1.Duration{Duration: r.interval()}}
		for i, g := range st.Timeline.Gaps {
			if g.To.Equal(first) {
				rs = &chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionGap, Within: *duration(g.To.Sub(g.From.Time)), Gap: &st.Timeline.Gaps[i]}
			}
		}
		add("breachToDecision", rs)
	}
	return out
}

func (r Run) longestGapAfterInjection() *chaosv1alpha1.SamplingGap {
	in := r.Status.Timeline.InjectedAt
	var longest *chaosv1alpha1.SamplingGap
	for i, g := range r.Status.Timeline.Gaps {
		if in == nil || !g.To.After(in.Time) {
			continue
		}
		if longest == nil || g.To.Sub(g.From.Time) > longest.To.Sub(longest.From.Time) {
			longest = &r.Status.Timeline.Gaps[i]
		}
	}
	return longest.DeepCopy()
}
