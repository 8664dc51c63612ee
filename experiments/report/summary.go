package report

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// SchemaVersion names the schema of the JSON report. It changes only when a
// field is removed or changes meaning; new optional fields keep it, so tools
// that gate on the report can pin it. v2: result.abortLatency is measured
// from the decision to abort, no longer from the first bad sample (that span
// is result.breachToDecision), and abort.firstBreach is a guard's only.
const SchemaVersion = "report.faultline.dev/v2"

// Summary is what a report says about one ExperimentRun: the status reduced to
// what people and pipelines read, with every instant and span already
// computed. It is the JSON report's schema, and the Text and Markdown reports
// render it too, so the three never disagree.
//
// Absent values are omitted (JSON) or shown as "-" (text): a run in progress,
// or one that ended before measuring, simply has fewer fields.
type Summary struct {
	// Schema is SchemaVersion.
	Schema string `json:"schema"`
	// Namespace of the run.
	Namespace string `json:"namespace"`
	// Name of the run.
	Name string `json:"name"`
	// Experiment is the name of the Experiment the run executes.
	Experiment string `json:"experiment"`
	// ExperimentGeneration is the Experiment generation the run snapshotted.
	ExperimentGeneration int64 `json:"experimentGeneration,omitempty"`
	// DryRun is true when the run injected nothing by design.
	DryRun bool `json:"dryRun"`
	// Phase of the run; empty before the operator has seen it.
	Phase string `json:"phase,omitempty"`
	// Verdict of the run: Passed, Failed, Aborted, Inconclusive or Error;
	// empty while the run is in progress.
	Verdict string `json:"verdict,omitempty"`
	// Finished is true once the phase is Completed and the verdict final.
	Finished bool `json:"finished"`
	// Message is the run's summary in words.
	Message string `json:"message,omitempty"`
	// RequestedBy is the user whose rights the run acted with.
	RequestedBy string `json:"requestedBy,omitempty"`
	// Approval says who approved the run and when; absent when the run
	// needed no approval or has not been approved.
	Approval *Approval `json:"approval,omitempty"`
	// Result holds the measured figures and the judged objectives.
	Result Result `json:"result"`
	// Timeline holds the run's instants in chronological order.
	Timeline Timeline `json:"timeline"`
	// Targets the run acted on.
	Targets []Target `json:"targets"`
	// Probes summarises every steady-state probe, guard and detection alert.
	Probes []Probe `json:"probes"`
	// Abort says why the run was aborted; absent when it was not.
	Abort *Abort `json:"abort,omitempty"`
	// Notification is when Alertmanager notified the declared alerts, or
	// why that could not be seen; absent when the run declares no alerts
	// or nothing was notified or asked for.
	Notification *Notification `json:"notification,omitempty"`
	// Remediation is when automatic remediation began and what began it,
	// or what was not seen; absent when nothing was injected.
	Remediation *Remediation `json:"remediation,omitempty"`
	// SLOs are what the run derived from the SLOs its probes and guards
	// reference; absent when they reference none.
	SLOs []SLO `json:"slos,omitempty"`
	// Comparison is the faulted slice of traffic compared with the rest;
	// absent when the Experiment declares none.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Approval is who approved a run and when.
type Approval struct {
	// ApprovedBy is the approving user, as the admission webhook saw them.
	ApprovedBy string `json:"approvedBy"`
	// ApprovedAt is when the operator saw the approval.
	ApprovedAt *Instant `json:"approvedAt,omitempty"`
}

// Duration is a span of time in two spellings: Text in Go's duration syntax,
// as the ExperimentRun writes it ("1m2.5s"), and Seconds for tools that
// compute with it. Offsets carry an explicit sign ("+1.002s", "-30s").
type Duration struct {
	// Text is the span in Go duration syntax, at full precision.
	Text string `json:"text"`
	// Seconds is the span in seconds.
	Seconds float64 `json:"seconds"`
}

// Result holds a run's figures. Each is absent until measured.
type Result struct {
	// TimeToDetect is the detection instant minus injectedAt.
	TimeToDetect *Duration `json:"timeToDetect,omitempty"`
	// DetectedBy is Alert or Probe.
	DetectedBy string `json:"detectedBy,omitempty"`
	// TimeToNotify is notifiedAt minus injectedAt: until Alertmanager's
	// notification reached the operator's receiver.
	TimeToNotify *Duration `json:"timeToNotify,omitempty"`
	// TimeToRecover is recoveredAt minus injectedAt; zero when the system
	// absorbed the fault.
	TimeToRecover *Duration `json:"timeToRecover,omitempty"`
	// TimeToRemediate is remediationStartedAt minus injectedAt.
	TimeToRemediate *Duration `json:"timeToRemediate,omitempty"`
	// Resolution is the probe interval: a crossing happened at most this long
	// before the sample that saw it.
	Resolution *Duration `json:"resolution,omitempty"`
	// AbortLatency is from the decision to abort (abort.decided) to the
	// revert being done (abort.reverted).
	AbortLatency *Duration `json:"abortLatency,omitempty"`
	// BreachToDecision is from the first bad sample behind the abort
	// (abort.firstBreach or abort.firstError) to the decision; absent when
	// no sample caused the abort.
	BreachToDecision *Duration `json:"breachToDecision,omitempty"`
	// Resolutions say, figure by figure, how precisely each is known.
	Resolutions []FigureResolution `json:"resolutions,omitempty"`
	// Objectives are the objectives the run judged, in its order, followed by
	// any its Experiment snapshot declares that it has not judged, so the
	// list is the same whatever became of the run.
	Objectives []Objective `json:"objectives"`
}

// FigureResolution is how precisely one figure is known.
type FigureResolution struct {
	// Figure is timeToDetect, timeToRecover or breachToDecision.
	Figure string `json:"figure"`
	// Source is ProbeInterval (the first sample that saw the change), Gap
	// (the first sample after a stretch when the operator saw nothing),
	// Event (a watch event dated the change), Alert (Prometheus' alert
	// state dated the alert's firing; Within is the rule evaluation
	// interval, zero when unknown) or RangeQuery (a range query at a step
	// of Within re-evaluated the Prometheus probes).
	Source string `json:"source"`
	// Within is how long before the figure's instant the change may have
	// happened; zero for Event.
	Within Duration `json:"within"`
	// Gap is the stretch the change happened in, for Source Gap.
	Gap *Gap `json:"gap,omitempty"`
	// Text says it in words: "±15.2s: the operator was not sampling from
	// +2m16s to +2m31.2s".
	Text string `json:"text"`
}

// Gap is a stretch when the operator saw nothing.
type Gap struct {
	// From is the last sample that answered before it, or the injection.
	From Instant `json:"from"`
	// To is the first sample that answered after it.
	To Instant `json:"to"`
	// Length is To minus From.
	Length Duration `json:"length"`
	// Cause is NotSampled (no sample was taken) or ProbeErrors (the probes
	// did not answer).
	Cause string `json:"cause,omitempty"`
	// UnansweredSamples counts the samples taken in it that the probes did
	// not answer.
	UnansweredSamples int32 `json:"unansweredSamples,omitempty"`
}

// Objective is one judged objective.
type Objective struct {
	// Name is detectWithin or recoverWithin.
	Name string `json:"name"`
	// Target is the objective's limit.
	Target Duration `json:"target"`
	// Measured is the figure judged; absent when never measured.
	Measured *Duration `json:"measured,omitempty"`
	// Status is Met, Missed or NotMeasured as the run judged it. An
	// objective the Experiment declares but the run did not judge is Pending
	// while the run is in progress and NotMeasured once it has finished (it
	// ended before judging, as an Inconclusive or Error run does).
	Status string `json:"status"`
}

// Instant is a point in time, and its offset from the timeline's origin.
type Instant struct {
	// At is the instant in UTC, to the microsecond.
	At time.Time `json:"at"`
	// Offset is At minus the timeline's origin; absent when there is no origin.
	Offset *Duration `json:"offset,omitempty"`
}

// Timeline is a run's instants, ordered by time.
type Timeline struct {
	// Origin names the instant offsets are measured from: injectedAt when
	// the fault was injected (the failure onset, which every figure is
	// measured from), else startedAt; empty when neither is known.
	Origin string `json:"origin,omitempty"`
	// Events are the instants the run recorded, earliest first.
	Events []Event `json:"events"`
	// Gaps are the stretches when the operator saw nothing, earliest first.
	Gaps []Gap `json:"gaps,omitempty"`
	// GapsOmitted counts gaps the run did not list (it lists 20).
	GapsOmitted int32 `json:"gapsOmitted,omitempty"`
}

// Event is one named instant of the timeline.
type Event struct {
	// Name is the ExperimentRun's timeline field: startedAt,
	// baselineVerifiedAt, injectedAt, deviatedAt, alertedAt, revertedAt,
	// recoveredAt or finishedAt; or abortedAt, the run's abort.decidedAt.
	Name string `json:"name"`
	Instant
}

// Target is one object the run acted on.
type Target struct {
	// Kind is Pod, Node or VirtualService.
	Kind string `json:"kind"`
	// Namespace of the target; empty for Nodes.
	Namespace string `json:"namespace,omitempty"`
	// Name of the target.
	Name string `json:"name"`
	// Phase is Selected, Injected, Reverted, Failed or Conflict.
	Phase string `json:"phase"`
	// Injected is when the fault was applied to it.
	Injected *Instant `json:"injected,omitempty"`
	// Reverted is when the fault was undone on it.
	Reverted *Instant `json:"reverted,omitempty"`
	// Message explains a failure or conflict.
	Message string `json:"message,omitempty"`
	// Spared are the pods a node drain left on the node because their
	// namespace may not be targeted, as namespace/name.
	Spared []string `json:"spared,omitempty"`
}

// Probe summarises the samples of one probe, guard or alert.
type Probe struct {
	// Name of the probe, guard or alert.
	Name string `json:"name"`
	// Kind is Probe (steady state), Guard or Alert.
	Kind string `json:"kind"`
	// Condition is what had to hold, as written, such as ">= 0.99" or,
	// relative to the baseline, "<= +10%"; for a probe or guard on an SLO,
	// the condition derived from it. Empty when the run does not say.
	Condition string `json:"condition,omitempty"`
	// ResolvedCondition is a relative condition with the threshold it
	// resolved to when the baseline ended, such as "<= 0.01353".
	ResolvedCondition string `json:"resolvedCondition,omitempty"`
	// BaselineMean is the mean of the values answered during the baseline.
	BaselineMean string `json:"baselineMean,omitempty"`
	// BaselineSamples is how many values BaselineMean averages.
	BaselineSamples int32 `json:"baselineSamples,omitempty"`
	// Threshold is the absolute value a relative condition resolved to.
	Threshold string `json:"threshold,omitempty"`
	// Baseline is the last value seen during the baseline.
	Baseline string `json:"baseline,omitempty"`
	// Worst is the value furthest on the failing side of the condition.
	Worst string `json:"worst,omitempty"`
	// Last is the latest value.
	Last string `json:"last,omitempty"`
	// Samples taken.
	Samples int32 `json:"samples"`
	// Failures are samples where the condition did not hold.
	Failures int32 `json:"failures"`
	// Errors are samples that could not be taken.
	Errors int32 `json:"errors"`
	// LastError is the latest error.
	LastError string `json:"lastError,omitempty"`
}

// Abort says why and how a run was aborted.
type Abort struct {
	// Reason is the AbortReason, such as SLOBreached or Manual.
	Reason string `json:"reason"`
	// Guard that fired, for SLOBreached.
	Guard string `json:"guard,omitempty"`
	// Value that breached the guard.
	Value string `json:"value,omitempty"`
	// FirstBreach is the first sample of the guard's breach, for
	// SLOBreached only.
	FirstBreach *Instant `json:"firstBreach,omitempty"`
	// FirstError is the first of the unanswered samples behind a
	// ProbeUnavailable abort.
	FirstError *Instant `json:"firstError,omitempty"`
	// Decided is when the run decided to abort.
	Decided *Instant `json:"decided,omitempty"`
	// Trigger says what the decision followed, such as "the kill switch was
	// seen"; abortLatency is measured from it.
	Trigger string `json:"trigger"`
	// Reverted is when the revert the abort caused was done; absent when
	// the fault was already reverted before the abort, or not yet.
	Reverted *Instant `json:"reverted,omitempty"`
	// Message in words.
	Message string `json:"message,omitempty"`
}

// Summarize reduces run to its report. It reads only the run, tolerates any
// field being absent (a run just created has no status at all), and never
// modifies it.
func Summarize(run *chaosv1alpha1.ExperimentRun) Summary {
	st := &run.Status
	s := Summary{
		Schema:               SchemaVersion,
		Namespace:            run.Namespace,
		Name:                 run.Name,
		Experiment:           run.Spec.ExperimentRef.Name,
		ExperimentGeneration: st.ExperimentGeneration,
		DryRun:               run.Spec.DryRun,
		Phase:                string(st.Phase),
		Verdict:              string(st.Verdict),
		Finished:             st.Phase == chaosv1alpha1.PhaseCompleted,
		Message:              st.Message,
		RequestedBy:          st.RequestedBy,
		Result:               Result{Objectives: []Objective{}},
		Targets:              []Target{},
		Probes:               []Probe{},
	}

	origin, originTime := timelineOrigin(st.Timeline)
	s.Timeline = Timeline{Origin: origin, Events: timelineEvents(st, originTime), GapsOmitted: st.Timeline.GapsOmitted}
	for _, g := range st.Timeline.Gaps {
		s.Timeline.Gaps = append(s.Timeline.Gaps, gapOf(g, originTime))
	}

	if r := st.Result; r != nil {
		s.Result.TimeToDetect = span(r.TimeToDetect)
		s.Result.DetectedBy = string(r.DetectedBy)
		s.Result.TimeToNotify = span(r.TimeToNotify)
		s.Result.TimeToRecover = span(r.TimeToRecover)
		s.Result.TimeToRemediate = span(r.TimeToRemediate)
		// The probe interval, from the run's snapshot of its spec.
		s.Result.Resolution = span(&metav1.Duration{Duration: engine.ProbeInterval(st.Experiment)})
		s.Result.AbortLatency = span(r.AbortLatency)
		s.Result.BreachToDecision = span(r.BreachToDecision)
		for _, fr := range r.Resolutions {
			out := FigureResolution{Figure: fr.Figure, Source: string(fr.Source), Within: newDuration(fr.Within.Duration)}
			if fr.Gap != nil {
				g := gapOf(*fr.Gap, originTime)
				out.Gap = &g
			}
			if originTime != nil {
				out.Text = engine.DescribeResolution(fr.Resolution, *originTime)
			} else {
				out.Text = engine.DescribeResolution(fr.Resolution, time.Time{})
			}
			s.Result.Resolutions = append(s.Result.Resolutions, out)
		}
		for _, o := range r.Objectives {
			s.Result.Objectives = append(s.Result.Objectives, Objective{
				Name:     o.Name,
				Target:   newDuration(o.Target.Duration),
				Measured: span(o.Measured),
				Status:   string(o.Status),
			})
		}
	}
	unjudged := StatusPending
	if s.Finished {
		unjudged = string(chaosv1alpha1.ObjectiveNotMeasured)
	}
	s.Result.Objectives = addDeclaredObjectives(s.Result.Objectives, st.Experiment, unjudged)

	s.Notification = notificationOf(st, originTime)
	s.Remediation = remediationOf(st, originTime)

	if a := st.Approval; a != nil {
		s.Approval = &Approval{ApprovedBy: a.ApprovedBy, ApprovedAt: instant(a.ApprovedAt, originTime)}
	}

	for _, t := range st.Targets {
		var spared []string
		if t.Restore != nil && t.Restore.Node != nil {
			spared = t.Restore.Node.SparedPods
		}
		s.Targets = append(s.Targets, Target{
			Spared:    spared,
			Kind:      string(t.Kind),
			Namespace: t.Namespace,
			Name:      t.Name,
			Phase:     string(t.Phase),
			Injected:  instant(t.InjectedAt, originTime),
			Reverted:  instant(t.RevertedAt, originTime),
			Message:   t.Message,
		})
	}

	conditions := probeConditions(st.Experiment)
	for _, slo := range st.SLOs {
		// A probe or guard on an SLO is judged by what the run derived.
		k := probeKey{slo.Kind, slo.Name}
		if c := hypothesisText(slo.Condition); c != "" && conditions[k] == "" {
			conditions[k] = c
		}
	}
	for _, p := range st.Probes {
		condition := conditions[probeKey{p.Kind, p.Name}]
		s.Probes = append(s.Probes, Probe{
			Name:              p.Name,
			Kind:              string(p.Kind),
			Condition:         condition,
			ResolvedCondition: resolvedCondition(condition, p.Threshold),
			BaselineMean:      p.BaselineMean,
			BaselineSamples:   p.BaselineSamples,
			Threshold:         p.Threshold,
			Baseline:          p.Baseline,
			Worst:             p.Worst,
			Last:              p.Last,
			Samples:           p.Samples,
			Failures:          p.Failures,
			Errors:            p.Errors,
			LastError:         p.LastError,
		})
	}
	s.SLOs = slosOf(st)
	s.Comparison = comparisonOf(st)

	if a := st.Abort; a != nil {
		decided := engine.AbortDecidedAt(st)
		s.Abort = &Abort{
			Reason:      string(a.Reason),
			Guard:       a.Guard,
			Value:       a.Value,
			FirstBreach: instant(a.FirstBreachAt, originTime),
			FirstError:  instant(a.FirstErrorAt, originTime),
			Decided:     instant(decided, originTime),
			Trigger:     engine.AbortTrigger(a.Reason),
			Message:     a.Message,
		}
		if rev := st.Timeline.RevertedAt; rev != nil && decided != nil && !rev.Before(decided) {
			s.Abort.Reverted = instant(rev, originTime)
		}
	}
	return s
}

// StatusPending is the Status of an objective a run in progress has not judged yet.
const StatusPending = "Pending"

// addDeclaredObjectives appends the objectives spec declares that judged
// lacks, with the given status.
func addDeclaredObjectives(judged []Objective, spec *chaosv1alpha1.ExperimentSpec, status string) []Objective {
	if spec == nil || spec.Objectives == nil {
		return judged
	}
	declared := []struct {
		name  string
		limit *metav1.Duration
	}{
		{objectiveDetect, spec.Objectives.DetectWithin},
		{objectiveRecover, spec.Objectives.RecoverWithin},
		{objectiveNotify, spec.Objectives.NotifyWithin},
		{objectiveRemediate, spec.Objectives.RemediateWithin},
	}
	for _, d := range declared {
		if d.limit == nil || slices.ContainsFunc(judged, func(o Objective) bool { return o.Name == d.name }) {
			continue
		}
		judged = append(judged, Objective{Name: d.name, Target: newDuration(d.limit.Duration), Status: status})
	}
	return judged
}

// timelineOrigin picks the instant offsets are measured from. Every figure
// (time-to-detect, time-to-recover) is measured from injectedAt, so offsets
// from it read directly as those figures; a run that never injected is
// described from its start instead.
func timelineOrigin(tl chaosv1alpha1.Timeline) (string, *time.Time) {
	switch {
	case tl.InjectedAt != nil:
		return "injectedAt", &tl.InjectedAt.Time
	case tl.StartedAt != nil:
		return "startedAt", &tl.StartedAt.Time
	}
	return "", nil
}

// timelineEvents lists the recorded instants earliest first. Ties keep the
// API's field order, which is the usual order of a run (the decision to
// abort where timeline.abortedAt stood), so that two instants taken from the
// same sample (a deviation and an alert) read naturally.
func timelineEvents(st *chaosv1alpha1.ExperimentRunStatus, origin *time.Time) []Event {
	tl := st.Timeline
	fields := []struct {
		name string
		at   *metav1.MicroTime
	}{
		{"startedAt", tl.StartedAt},
		{"baselineVerifiedAt", tl.BaselineVerifiedAt},
		{"injectedAt", tl.InjectedAt},
		{"deviatedAt", tl.DeviatedAt},
		{"alertedAt", tl.AlertedAt},
		{"notifiedAt", tl.NotifiedAt},
		{"remediationStartedAt", tl.RemediationStartedAt},
		{"abortedAt", engine.AbortDecidedAt(st)},
		{"revertedAt", tl.RevertedAt},
		{"recoveredAt", tl.RecoveredAt},
		{"finishedAt", tl.FinishedAt},
	}
	events := []Event{}
	for _, f := range fields {
		if in := instant(f.at, origin); in != nil {
			events = append(events, Event{Name: f.name, Instant: *in})
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At.Before(events[j].At) })
	return events
}

// instant converts at to an Instant relative to origin; nil when at is.
func instant(at *metav1.MicroTime, origin *time.Time) *Instant {
	if at == nil {
		return nil
	}
	in := &Instant{At: at.UTC()}
	if origin != nil {
		off := newDuration(at.Sub(*origin))
		off.Text = signed(at.Sub(*origin))
		in.Offset = &off
	}
	return in
}

// gapOf converts a gap, with offsets from origin.
func gapOf(g chaosv1alpha1.SamplingGap, origin *time.Time) Gap {
	return Gap{
		From: *instant(&g.From, origin), To: *instant(&g.To, origin), Length: newDuration(g.To.Sub(g.From.Time)),
		Cause: string(g.Cause), UnansweredSamples: g.UnansweredSamples,
	}
}

// span converts an API duration; nil when d is.
func span(d *metav1.Duration) *Duration {
	if d == nil {
		return nil
	}
	v := newDuration(d.Duration)
	return &v
}

func newDuration(d time.Duration) Duration {
	return Duration{Text: d.String(), Seconds: d.Seconds()}
}

// signed writes an offset with its sign, so "+0s" and "-30s" are told apart
// at a glance from the figures they sit next to.
func signed(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

type probeKey struct {
	kind chaosv1alpha1.ProbeKind
	name string
}

// probeConditions reads what each probe and guard had to meet from the run's
// snapshot of its Experiment; the probe summaries in status do not repeat it,
// and a worst value means little without the threshold next to it.
func probeConditions(spec *chaosv1alpha1.ExperimentSpec) map[probeKey]string {
	out := map[probeKey]string{}
	if spec == nil {
		return out
	}
	for _, p := range spec.SteadyState.Probes {
		switch {
		case p.Condition != nil:
			out[probeKey{chaosv1alpha1.ProbeKindSteadyState, p.Name}] = string(p.Condition.Op) + " " + p.Condition.Value
		case p.Workload != nil:
			// A workload probe's value is the percentage of desired replicas ready.
			minReady := p.Workload.MinReadyPercent
			if minReady == 0 {
				minReady = 100 // the CRD default
			}
			out[probeKey{chaosv1alpha1.ProbeKindSteadyState, p.Name}] = ">= " + strconv.Itoa(int(minReady)) + "% ready"
		}
	}
	if spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			if g.SLO != nil {
				continue // its condition is derived from the SLO: status.slos
			}
			c := string(g.Condition.Op) + " " + g.Condition.Value
			if g.For != nil && g.For.Duration > 0 {
				c = fmt.Sprintf("%s (breach for %s)", c, g.For.Duration)
			}
			out[probeKey{chaosv1alpha1.ProbeKindGuard, g.Name}] = c
		}
	}
	if spec.Detection != nil {
		for _, a := range spec.Detection.Alerts {
			out[probeKey{chaosv1alpha1.ProbeKindAlert, a}] = "firing"
		}
	}
	return out
}
