package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// The tests drive the pure state machine the way the run controller does:
// ask Next, do what it says against a scripted world, hand the outcome back
// through the Apply functions, and advance a fake clock on Wait. They assert
// the status the run ends with (and, where it matters, the status it passed
// through), never which functions were called in which order.

const sec = time.Second

// t0 is when every driven run starts.
var t0 = time.Date(2025, time.March, 4, 14, 0, 0, 0, time.UTC)

// stepCap bounds a driven run: a machine that has not finished by then stalls.
const stepCap = 5000

// anchor is an instant of the run that scripts and expectations are written against.
type anchor int

const (
	fromStart anchor = iota
	fromInjection
	fromRevert
	never
)

// instant is an offset from an anchor, such as inj(2*sec): two seconds after injection.
type instant struct {
	anchor anchor
	offset time.Duration
}

func at(d time.Duration) instant  { return instant{fromStart, d} }
func inj(d time.Duration) instant { return instant{fromInjection, d} }
func rev(d time.Duration) instant { return instant{fromRevert, d} }

// forever never comes: a span ending forever lasts to the end of the run.
var forever = instant{anchor: never}

// resolve gives the wall time of i in the run st, and false while its anchor
// has not happened. Anchors are read from status only, so a run resumed from
// a copy of its status sees the same world.
func (i instant) resolve(st *chaosv1alpha1.ExperimentRunStatus) (time.Time, bool) {
	var base *metav1.MicroTime
	switch i.anchor {
	case fromStart:
		base = st.Timeline.StartedAt
	case fromInjection:
		base = st.Timeline.InjectedAt
	case fromRevert:
		base = st.Timeline.RevertedAt
	}
	if base == nil {
		return time.Time{}, false
	}
	return base.Add(i.offset), true
}

func (i instant) String() string {
	switch i.anchor {
	case fromStart:
		return fmt.Sprintf("start+%s", i.offset)
	case fromInjection:
		return fmt.Sprintf("injection+%s", i.offset)
	case fromRevert:
		return fmt.Sprintf("revert+%s", i.offset)
	}
	return "never"
}

// span is the half-open interval [from, to).
type span struct{ from, to instant }

func during(from, to instant) span { return span{from, to} }

func (s span) covers(st *chaosv1alpha1.ExperimentRunStatus, now time.Time) bool {
	from, ok := s.from.resolve(st)
	if !ok || now.Before(from) {
		return false
	}
	to, ok := s.to.resolve(st)
	return !ok || now.Before(to)
}

// behaviour scripts one check: when it is bad (a probe failing, a guard
// breached, an alert firing) and when it cannot be measured at all.
type behaviour struct{ bad, errs []span }

// script maps check names to their behaviour; a check not named always passes.
type script map[string]behaviour

func anyCovers(spans []span, st *chaosv1alpha1.ExperimentRunStatus, now time.Time) bool {
	for _, s := range spans {
		if s.covers(st, now) {
			return true
		}
	}
	return false
}

// world is everything outside the engine: the spec, what the checks answer,
// and how targets respond to injection and revert.
type world struct {
	spec   *chaosv1alpha1.ExperimentSpec
	dryRun bool
	script script
	// targets the selection yields: 1 when zero.
	targets int
	// emptySelection makes selection return no targets and no error.
	emptySelection bool
	// selectErr makes selection fail.
	selectErr error
	// failInject names targets whose injection fails.
	failInject []string
	// conflicts names targets another writer changed before the revert.
	conflicts []string
	// revertTakes is how long the controller takes to revert.
	revertTakes time.Duration
	// killSwitch is when the ChaosPolicy is paused; nil when it never is.
	killSwitch *instant
	// outages are spans in which the operator does nothing at all (it is
	// down, restarting, or another replica is taking over).
	outages []span
	// watched makes workload probes date their changes (Result.Since), as
	// their watches do, shifted by sinceShift.
	watched    bool
	sinceShift time.Duration
	// alertState makes firing alerts carry when Prometheus' alert state
	// says they fired (Result.Since), as the Sampler does.
	alertState *alertState
	// rangeQuery answers the refinement of crossings, as probes.Refine
	// does; nil answers that no range can be evaluated.
	rangeQuery func(c probes.Crossing, sc script, st *chaosv1alpha1.ExperimentRunStatus) probes.Refined
	// refineTakes is how long the controller takes to refine.
	refineTakes time.Duration
	// comparison is what the controller prepares for a comparison before
	// the run starts (its two queries); nil for none.
	comparison *chaosv1alpha1.ComparisonStatus
	// groups answers the comparison's n-th sample of each group.
	groups func(n int) (experiment, control float64)
	// baselineValues, when set, answers the probes' n-th sample during the
	// baseline instead of the healthy value.
	baselineValues func(n int) float64
}

// alertState dates each firing alert at the start of its bad span, shifted
// by shift, with the rule evaluation interval within.
type alertState struct{ shift, within time.Duration }

// phaseAt is a phase the run entered, when, and the status as it entered it.
type phaseAt struct {
	phase  chaosv1alpha1.RunPhase
	at     time.Time
	status *chaosv1alpha1.ExperimentRunStatus
}

// driver plays the run controller against a world, with a fake clock.
type driver struct {
	t     *testing.T
	w     world
	run   engine.Run
	now   time.Time
	steps int
	// refines counts the refinements asked for.
	refines int
	seen    map[engine.Action]int
	phases  []phaseAt
	// grouped and baselined count the comparison and baseline samples.
	grouped, baselined int
}

func start(t *testing.T, w world) *driver {
	t.Helper()
	d := &driver{t: t, w: w, now: t0, seen: map[engine.Action]int{}}
	d.attach(&chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending, Experiment: w.spec.DeepCopy(), Comparison: w.comparison.DeepCopy()})
	d.run.Start(d.now)
	d.notePhase()
	return d
}

// attach makes the driver work on st, reading the spec from its snapshot as
// the controller does.
func (d *driver) attach(st *chaosv1alpha1.ExperimentRunStatus) {
	d.run = engine.Run{Spec: engine.Effective(st.Experiment, st), Written: st.Experiment, Status: st, DryRun: d.w.dryRun}
}

// step does what Next asks at the driver's instant and reports whether the
// run goes on.
func (d *driver) step() bool {
	d.t.Helper()
	st := d.run.Status
	d.steps++
	if d.steps > stepCap {
		d.t.Fatalf("the run stalled: still %s at %s after %d steps (%s)", st.Phase, d.since(d.now), stepCap, st.Message)
	}
	if until, ok := d.outageUntil(); ok {
		d.now = until
		return true
	}
	if d.killSwitchOn() {
		// The controller calls Abort on every reconcile while the policy is paused.
		d.run.Abort(d.now, chaosv1alpha1.AbortKillSwitch, "ChaosPolicy default is paused")
		d.notePhase()
	}
	next := d.run.Next(d.now)
	d.seen[next.Action]++
	switch next.Action {
	case engine.ActionNone:
		return false
	case engine.ActionWait:
		if next.After <= 0 {
			d.t.Fatalf("at %s in %s: Wait with After %s would spin the controller", d.since(d.now), st.Phase, next.After)
		}
		d.now = d.now.Add(d.capWait(next.After))
	case engine.ActionSample:
		d.run.ApplySample(d.sample(next.Set))
		// As the controller does: the baseline's end may have fixed
		// relative thresholds.
		d.attach(d.run.Status)
	case engine.ActionSelectTargets:
		d.run.ApplyTargets(d.selectTargets(), "", d.w.selectErr, d.now)
	case engine.ActionInject:
		d.inject()
		d.run.ApplyInjected(d.now)
	case engine.ActionRevert:
		d.revert()
		d.run.ApplyReverted(d.now)
	case engine.ActionRefine:
		d.refines++
		d.now = d.now.Add(d.w.refineTakes)
		d.run.ApplyRefinements(d.refine(next.Crossings))
	default:
		d.t.Fatalf("unknown action %q", next.Action)
	}
	d.notePhase()
	return true
}

// finish drives the run to its end and checks the invariants every run keeps.
func (d *driver) finish() *chaosv1alpha1.ExperimentRunStatus {
	d.t.Helper()
	for d.step() {
	}
	st := d.run.Status
	if st.Phase != chaosv1alpha1.PhaseCompleted || st.Verdict == "" {
		d.t.Fatalf("Next said None in phase %s with verdict %q", st.Phase, st.Verdict)
	}
	for _, tg := range st.Targets {
		if tg.Phase == chaosv1alpha1.TargetInjected {
			d.t.Errorf("target %s is still Injected after the run finished: a fault outlived its run", tg.Name)
		}
	}
	return st
}

func (d *driver) since(t time.Time) string { return fmt.Sprintf("start+%s", t.Sub(t0)) }

func (d *driver) notePhase() {
	st := d.run.Status
	if n := len(d.phases); n > 0 && d.phases[n-1].phase == st.Phase {
		return
	}
	d.phases = append(d.phases, phaseAt{phase: st.Phase, at: d.now, status: st.DeepCopy()})
}

func (d *driver) entered(p chaosv1alpha1.RunPhase) *phaseAt {
	for i := range d.phases {
		if d.phases[i].phase == p {
			return &d.phases[i]
		}
	}
	return nil
}

// outageUntil is when the outage covering the driver's instant ends.
func (d *driver) outageUntil() (time.Time, bool) {
	for _, o := range d.w.outages {
		if o.covers(d.run.Status, d.now) {
			to, ok := o.to.resolve(d.run.Status)
			return to, ok
		}
	}
	return time.Time{}, false
}

func (d *driver) killSwitchOn() bool {
	if d.w.killSwitch == nil || d.run.Status.Phase == chaosv1alpha1.PhaseCompleted {
		return false
	}
	when, ok := d.w.killSwitch.resolve(d.run.Status)
	return ok && !d.now.Before(when)
}

// capWait wakes the controller when the policy is paused, as its watch would.
func (d *driver) capWait(after time.Duration) time.Duration {
	if d.w.killSwitch == nil {
		return after
	}
	when, ok := d.w.killSwitch.resolve(d.run.Status)
	if ok && when.After(d.now) && when.Before(d.now.Add(after)) {
		return when.Sub(d.now)
	}
	return after
}

// sample answers the checks set asks for, in the Sampler's order: probes,
// guards, alerts.
func (d *driver) sample(set probes.Set) probes.Sample {
	spec := d.run.Spec
	s := probes.Sample{At: d.now}
	if set.Probes {
		for _, p := range spec.SteadyState.Probes {
			switch {
			case p.Workload != nil:
				r := d.check(p.Name, chaosv1alpha1.ProbeKindSteadyState, 100, 40, probes.WorkloadHypothesis(*p.Workload))
				if d.w.watched && r.Err == nil {
					r.Since = d.changedAt(p.Name)
				}
				s.Results = append(s.Results, r)
			default:
				r := d.check(p.Name, chaosv1alpha1.ProbeKindSteadyState, 0.999, 0.62, *p.Condition)
				if d.w.baselineValues != nil && d.run.Status.Phase == chaosv1alpha1.PhaseBaseline && r.Err == nil {
					r.Value = d.w.baselineValues(d.baselined)
					r.Pass, _ = probes.Evaluate(r.Value, *p.Condition)
				}
				s.Results = append(s.Results, r)
			}
		}
		if d.run.Status.Phase == chaosv1alpha1.PhaseBaseline {
			d.baselined++
		}
	}
	if set.Groups != nil && d.w.groups != nil {
		e, c := d.w.groups(d.grouped)
		d.grouped++
		s.Groups = []probes.Result{{Name: "experiment", Value: e}, {Name: "control", Value: c}}
	}
	if set.Guards && spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			s.Results = append(s.Results, d.check(g.Name, chaosv1alpha1.ProbeKindGuard, 0.99, 0.8, g.Condition))
		}
	}
	if set.Alerts && spec.Detection != nil {
		for _, a := range spec.Detection.Alerts {
			r := d.check(a, chaosv1alpha1.ProbeKindAlert, 0, 1, probes.AlertHypothesis)
			if as := d.w.alertState; as != nil && r.Err == nil && !r.Pass {
				r.Since, r.SinceWithin = d.changedAt(a).Add(as.shift), as.within
			}
			s.Results = append(s.Results, r)
		}
	}
	return s
}

// changedAt is when the check's current state began by the script: the
// start of the bad span it is in, else the end of the last one; zero when
// it never changed.
func (d *driver) changedAt(name string) time.Time {
	var last time.Time
	for _, sp := range d.w.script[name].bad {
		if sp.covers(d.run.Status, d.now) {
			from, _ := sp.from.resolve(d.run.Status)
			return from.Add(d.w.sinceShift)
		}
		if to, ok := sp.to.resolve(d.run.Status); ok && !to.After(d.now) && to.After(last) {
			last = to
		}
	}
	if last.IsZero() {
		return last
	}
	return last.Add(d.w.sinceShift)
}

func (d *driver) check(name string, kind chaosv1alpha1.ProbeKind, healthy, bad float64, cond chaosv1alpha1.Hypothesis) probes.Result {
	r := probes.Result{Name: name, Kind: kind, Condition: cond}
	b := d.w.script[name]
	switch {
	case anyCovers(b.errs, d.run.Status, d.now):
		r.Err = errors.New("Post \"http://prometheus.monitoring:9090/api/v1/query\": connection refused")
	case anyCovers(b.bad, d.run.Status, d.now):
		r.Value = bad
	default:
		r.Value, r.Pass = healthy, true
	}
	return r
}

// refine answers each crossing with the world's range query.
func (d *driver) refine(crossings []probes.Crossing) []probes.Refined {
	out := make([]probes.Refined, len(crossings))
	for i, c := range crossings {
		if d.w.rangeQuery == nil {
			out[i] = probes.Refined{Instant: c.Instant, Err: errors.New("the metrics provider cannot evaluate a range")}
			continue
		}
		out[i] = d.w.rangeQuery(c, d.w.script, d.run.Status)
		out[i].Instant = c.Instant
	}
	return out
}

func (d *driver) selectTargets() []chaosv1alpha1.TargetStatus {
	if d.w.selectErr != nil || d.w.emptySelection {
		return nil
	}
	spec := d.run.Spec
	var targets []chaosv1alpha1.TargetStatus
	for i := range max(d.w.targets, 1) {
		tg := chaosv1alpha1.TargetStatus{
			Kind: spec.Target.Kind, Namespace: "shop", Name: fmt.Sprintf("checkout-%c", 'a'+i),
			Phase: chaosv1alpha1.TargetSelected,
		}
		if spec.Fault.Istio != nil {
			tg.Restore = &chaosv1alpha1.RestoreData{Istio: &chaosv1alpha1.IstioRestore{
				Routes: []chaosv1alpha1.IstioRouteRestore{{Name: "primary", InjectedFault: `{"abort":{"httpStatus":503,"percentage":{"value":50}}}`}},
			}}
		}
		targets = append(targets, tg)
	}
	return targets
}

func (d *driver) inject() {
	st := d.run.Status
	for i := range st.Targets {
		tg := &st.Targets[i]
		if tg.Phase != chaosv1alpha1.TargetSelected {
			continue
		}
		if slices.Contains(d.w.failInject, tg.Name) {
			tg.Phase, tg.Message = chaosv1alpha1.TargetFailed, fmt.Sprintf("pods %q not found", tg.Name)
			continue
		}
		tg.Phase, tg.InjectedAt = chaosv1alpha1.TargetInjected, micro(d.now)
	}
}

// revert undoes every target that may carry the fault; a Failed target
// carries nothing.
func (d *driver) revert() {
	d.now = d.now.Add(d.w.revertTakes)
	st := d.run.Status
	for i := range st.Targets {
		tg := &st.Targets[i]
		if tg.Phase != chaosv1alpha1.TargetInjected && tg.Phase != chaosv1alpha1.TargetSelected {
			continue
		}
		if slices.Contains(d.w.conflicts, tg.Name) {
			tg.Phase, tg.Message = chaosv1alpha1.TargetConflict, "route primary was edited by another controller; left as it is"
			continue
		}
		tg.Phase, tg.RevertedAt = chaosv1alpha1.TargetReverted, micro(d.now)
	}
}

func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}

// Specs.

type option func(*chaosv1alpha1.ExperimentSpec)

// podKill is an instant fault with a 1s interval, a 3s baseline,
// stabilization 3, recovery within 60s, detect within 10s, recover within 30s.
func podKill(opts ...option) *chaosv1alpha1.ExperimentSpec {
	spec := &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{
			Kind: chaosv1alpha1.TargetPod, Namespaces: []string{"shop"},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
			Mode:     chaosv1alpha1.SelectOne,
		},
		Fault:    chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
		Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{Address: "http://prometheus.monitoring:9090"}},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval:        metav1.Duration{Duration: sec},
			Baseline:        metav1.Duration{Duration: 3 * sec},
			Stabilization:   3,
			RecoveryTimeout: metav1.Duration{Duration: 60 * sec},
			Probes: []chaosv1alpha1.Probe{
				{
					Name:       "success-rate",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: `sum(rate(istio_requests_total{response_code!~"5.."}[30s])) / sum(rate(istio_requests_total[30s]))`},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"},
				},
				{
					Name:     "checkout-ready",
					Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100},
				},
			},
		},
		Objectives: &chaosv1alpha1.ObjectivesSpec{
			DetectWithin:  &metav1.Duration{Duration: 10 * sec},
			RecoverWithin: &metav1.Duration{Duration: 30 * sec},
		},
	}
	for _, o := range opts {
		o(spec)
	}
	return spec
}

// istio is podKill's experiment with a sustained Istio abort held for hold.
func istio(hold time.Duration, opts ...option) *chaosv1alpha1.ExperimentSpec {
	spec := podKill(opts...)
	spec.Target.Kind = chaosv1alpha1.TargetVirtualService
	spec.Fault = chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{
		Routes: []string{"primary"},
		Abort:  &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: 50},
	}}
	spec.Duration = &metav1.Duration{Duration: hold}
	return spec
}

func baseline(d time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.SteadyState.Baseline.Duration = d }
}

func interval(d time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.SteadyState.Interval.Duration = d }
}

func stabilization(n int32) option {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.SteadyState.Stabilization = n }
}

func recoveryTimeout(d time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.SteadyState.RecoveryTimeout.Duration = d }
}

func objectives(detectWithin, recoverWithin time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		s.Objectives = &chaosv1alpha1.ObjectivesSpec{
			DetectWithin:  &metav1.Duration{Duration: detectWithin},
			RecoverWithin: &metav1.Duration{Duration: recoverWithin},
		}
	}
}

func noObjectives(s *chaosv1alpha1.ExperimentSpec) { s.Objectives = nil }

// prometheusProbesOnly drops the workload probe: the success rate alone.
func prometheusProbesOnly(s *chaosv1alpha1.ExperimentSpec) {
	s.SteadyState.Probes = slices.DeleteFunc(s.SteadyState.Probes, func(p chaosv1alpha1.Probe) bool { return p.Workload != nil })
}

// guard adds the guard error-budget: success ratio >= 0.95, breached for window.
func guard(window time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		if s.Abort == nil {
			s.Abort = &chaosv1alpha1.AbortSpec{}
		}
		s.Abort.Guards = append(s.Abort.Guards, chaosv1alpha1.Guard{
			Name:       "error-budget",
			Prometheus: chaosv1alpha1.PrometheusQuery{Query: `slo:checkout_availability:ratio_rate5m`},
			Condition:  chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.95"},
			For:        &metav1.Duration{Duration: window},
		})
	}
}

func onProbeError(p chaosv1alpha1.ProbeErrorPolicy, threshold int32) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		if s.Abort == nil {
			s.Abort = &chaosv1alpha1.AbortSpec{}
		}
		s.Abort.OnProbeError, s.Abort.ProbeErrorThreshold = p, threshold
	}
}

func alerts(names ...string) option {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.Detection = &chaosv1alpha1.DetectionSpec{Alerts: names} }
}

// Expectations.

type wantAbort struct {
	reason       chaosv1alpha1.AbortReason
	guard, value string
	// firstBreachAt and firstErrorAt must be set to these, or unset when nil.
	firstBreachAt, firstErrorAt *instant
}

type want struct {
	verdict chaosv1alpha1.Verdict
	// reason of the Completed condition.
	reason string
	// timeline lists every instant the run must have set; the rest must be unset.
	timeline map[string]instant
	// figures lists every figure of the result that must be set: timeToDetect,
	// timeToRecover, abortLatency, breachToDecision; the rest must be unset.
	figures    map[string]time.Duration
	detectedBy chaosv1alpha1.DetectionSource
	// objectives lists every objective judged, by name.
	objectives map[string]chaosv1alpha1.ObjectiveStatus
	// conditions lists every condition as "Status/Reason", by type.
	conditions map[string]string
	abort      *wantAbort
	// message is a part of the final message.
	message string
	// phases, when set, are the phases the run went through, in order.
	phases []chaosv1alpha1.RunPhase
	// never lists actions Next must never have asked for.
	never []engine.Action
	// extra checks what the fields above cannot say.
	extra func(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus)
}

type runCase struct {
	world world
	want  want
}

// runCases are the scenarios, shared by TestRun and TestRunResumesFromStatusAlone.
func runCases() map[string]runCase {
	passedConditions := map[string]string{
		"Completed": "True/Passed", "Detected": "True/Deviated", "Recovered": "True/Recovered", "Injected": "True/FaultReverted",
	}
	absorbedConditions := map[string]string{
		"Completed": "True/Passed", "Detected": "False/Absorbed", "Recovered": "True/Absorbed", "Injected": "True/FaultReverted",
	}
	bothMet := map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveMet}
	notMeasured := map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveNotMeasured, "recoverWithin": chaosv1alpha1.ObjectiveNotMeasured}
	absorbedObjectives := map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveNotMeasured, "recoverWithin": chaosv1alpha1.ObjectiveMet}
	podDownFor5s := script{"checkout-ready": {bad: []span{during(inj(1*sec), inj(6*sec))}}}
	ptr := func(i instant) *instant { return &i }

	return map[string]runCase{
		"pod kill, detected at the first sample and recovered after 5s, passes": {
			world: world{spec: podKill(), script: podDownFor5s},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "recovered in 6s",
				phases: []chaosv1alpha1.RunPhase{chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
					chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseCompleted},
				extra: func(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					ps := probeStatus(t, st, "checkout-ready")
					if ps.Baseline != "100" || ps.Worst != "40" || ps.Last != "100" || ps.Failures != 5 {
						t.Errorf("checkout-ready summary = baseline %q worst %q last %q failures %d, want 100, 40, 100, 5",
							ps.Baseline, ps.Worst, ps.Last, ps.Failures)
					}
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionProbeInterval, sec, nil)(t, d, st)
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil)(t, d, st)
				},
			},
		},
		"a flap inside the stabilization window restarts it": {
			world: world{spec: podKill(), script: script{"checkout-ready": {bad: []span{
				during(inj(1*sec), inj(6*sec)), // down, then passes at +6s and +7s
				during(inj(8*sec), inj(9*sec)), // flaps at +8s, then passes from +9s
			}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(9 * sec), "revertedAt": inj(11 * sec), "finishedAt": inj(11 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 9 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
			},
		},
		"a sample where one probe fails and another cannot answer breaks the stable window": {
			world: world{spec: podKill(), script: script{
				"checkout-ready": {bad: []span{during(inj(1*sec), inj(4*sec)), during(inj(6*sec), inj(7*sec))}},
				"success-rate":   {errs: []span{during(inj(6*sec), inj(7*sec))}},
			}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(7 * sec), "revertedAt": inj(9 * sec), "finishedAt": inj(9 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 7 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
			},
		},
		"under onProbeError Abort, a few unanswered samples neither pass nor fail": {
			world: world{spec: podKill(), script: script{
				"checkout-ready": {bad: []span{during(inj(1*sec), inj(4*sec))}},
				"success-rate":   {errs: []span{during(inj(5*sec), inj(7*sec))}},
			}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				// Passing at +4s, unanswered at +5s and +6s, passing at +7s and +8s:
				// three passing samples, the window starting at +4s.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(4 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 4 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
			},
		},
		"the baseline does not hold, nothing is injected": {
			world: world{spec: podKill(), script: script{"success-rate": {bad: []span{during(at(1*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonBaselineNotHeld,
				timeline:   map[string]instant{"startedAt": at(0), "finishedAt": at(1 * sec)},
				conditions: map[string]string{"Completed": "True/BaselineNotHeld", "Injected": "False/NotInjected"},
				message:    "success-rate = 0.62, needs >= 0.99",
				never:      []engine.Action{engine.ActionSelectTargets, engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"an alert already firing in the baseline: Inconclusive, nothing injected": {
			world: world{spec: podKill(alerts("CheckoutAvailabilityLow")), script: script{"CheckoutAvailabilityLow": {bad: []span{during(at(2*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonBaselineNotHeld,
				timeline:   map[string]instant{"startedAt": at(0), "finishedAt": at(2 * sec)},
				conditions: map[string]string{"Completed": "True/BaselineNotHeld", "Injected": "False/NotInjected"},
				message:    "alert CheckoutAvailabilityLow was already firing before injection",
				never:      []engine.Action{engine.ActionSelectTargets, engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"probes that cannot answer through the baseline: Inconclusive, nothing injected": {
			world: world{spec: podKill(), script: script{"success-rate": {errs: []span{during(at(1*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonProbeUnavailable,
				timeline:   map[string]instant{"startedAt": at(0), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/ProbeUnavailable", "Injected": "False/NotInjected"},
				never:      []engine.Action{engine.ActionSelectTargets, engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"baseline needs the full duration": {
			world: world{spec: podKill(baseline(5 * sec))},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(5 * sec), "injectedAt": at(5 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				extra:      baselineHeld(5 * sec),
			},
		},
		"an unanswered baseline sample starts the baseline again": {
			world: world{spec: podKill(baseline(5 * sec)), script: script{"success-rate": {errs: []span{during(at(2*sec), at(3*sec))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(8 * sec), "injectedAt": at(8 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				extra:      baselineHeld(5 * sec),
			},
		},
		"guard breached for its window aborts and reverts": {
			world: world{
				spec: istio(30*sec, guard(3*sec)),
				script: script{
					"success-rate": {bad: []span{during(inj(1*sec), rev(2*sec))}},
					"error-budget": {bad: []span{during(inj(2*sec), forever)}},
				},
				revertTakes: 250 * time.Millisecond,
			},
			want: want{
				verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"abort.decidedAt": inj(5 * sec), "revertedAt": inj(5250 * time.Millisecond), "finishedAt": inj(5250 * time.Millisecond),
				},
				// The decision came at +5s, when the breach from +2s had
				// lasted the guard's 3s window; the revert took 250ms.
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "abortLatency": 250 * time.Millisecond, "breachToDecision": 3 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveNotMeasured},
				conditions: map[string]string{
					"Completed": "True/Aborted", "Aborted": "True/SLOBreached", "Detected": "True/Deviated",
					"Recovered": "False/NotRecovered", "Injected": "True/FaultReverted",
				},
				abort:   &wantAbort{reason: chaosv1alpha1.AbortSLOBreached, guard: "error-budget", value: "0.8", firstBreachAt: ptr(inj(2 * sec))},
				message: "guard error-budget breached: value 0.8 (needs >= 0.95) for 3s; fault reverted 250ms after the guard's breach outlasted its window; the decision came 3s after the guard's first breaching sample",
				phases: []chaosv1alpha1.RunPhase{chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
					chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseCompleted},
				extra: func(t *testing.T, d *driver, _ *chaosv1alpha1.ExperimentRunStatus) {
					if p := d.entered(chaosv1alpha1.PhaseReverting); p == nil || !p.at.Equal(t0.Add(8*sec)) {
						t.Errorf("Reverting entered at %v, want injection+5s", p)
					}
				},
			},
		},
		"a guard that recovers before its window does not abort": {
			world: world{
				spec: istio(10*sec, guard(3*sec)),
				script: script{"error-budget": {bad: []span{
					during(inj(2*sec), inj(5*sec)), // breached at +2s, +3s, +4s: 2s < 3s
					during(inj(7*sec), inj(10*sec)),
				}}},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(13 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					if g := probeStatus(t, st, "error-budget"); g.Samples != 9 || g.Failures != 6 || g.Worst != "0.8" {
						t.Errorf("error-budget summary = %d samples, %d failures, worst %q; want 9, 6, 0.8", g.Samples, g.Failures, g.Worst)
					}
				},
			},
		},
		"probe errors for threshold samples abort with ProbeUnavailable": {
			world: world{
				spec:   istio(30*sec, onProbeError(chaosv1alpha1.ProbeErrorAbort, 3)),
				script: script{"success-rate": {errs: []span{during(inj(2*sec), forever)}}},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"abort.decidedAt": inj(4 * sec), "revertedAt": inj(4 * sec), "finishedAt": inj(4 * sec),
				},
				figures:    map[string]time.Duration{"abortLatency": 0, "breachToDecision": 2 * sec},
				objectives: notMeasured,
				conditions: map[string]string{"Completed": "True/Aborted", "Aborted": "True/ProbeUnavailable", "Injected": "True/FaultReverted"},
				abort:      &wantAbort{reason: chaosv1alpha1.AbortProbeUnavailable, firstErrorAt: ptr(inj(2 * sec))},
				message:    "did not answer for 3 consecutive samples",
			},
		},
		"under Continue, errors count as failing samples and the run goes on": {
			world: world{
				spec:   podKill(onProbeError(chaosv1alpha1.ProbeErrorContinue, 3)),
				script: script{"success-rate": {errs: []span{during(inj(1*sec), inj(4*sec))}}},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(4 * sec), "revertedAt": inj(6 * sec), "finishedAt": inj(6 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 4 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					if ps := probeStatus(t, st, "success-rate"); ps.Errors != 3 || ps.LastError == "" {
						t.Errorf("success-rate errors = %d (last %q), want 3 with the last error", ps.Errors, ps.LastError)
					}
				},
			},
		},
		"system absorbs the fault: passes after a quiet period as long as detectWithin": {
			world: world{spec: podKill()},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				message:    "absorbed the fault",
			},
		},
		"system absorbs the fault: without objectives the quiet period is the stabilization window": {
			world: world{spec: podKill(noObjectives)},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(3 * sec), "finishedAt": inj(3 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				conditions: absorbedConditions,
				message:    "absorbed the fault",
			},
		},
		"system absorbs the fault: a stabilization window longer than detectWithin sets the quiet period": {
			world: world{spec: podKill(interval(2*sec), stabilization(5), objectives(4*sec, 30*sec))},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(4 * sec), "injectedAt": at(4 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
			},
		},
		"alerts declared: time to detect is the alert, not the probe": {
			world: world{
				spec: podKill(alerts("CheckoutAvailabilityLow")),
				script: script{
					"checkout-ready":          {bad: []span{during(inj(1*sec), inj(6*sec))}},
					"CheckoutAvailabilityLow": {bad: []span{during(inj(4*sec), forever)}},
				},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"alertedAt": inj(4 * sec), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 4 * sec, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByAlert,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by alert in 4s",
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					// Alerts are sampled through the baseline (4 samples, 0s
					// to 3s) and after injection until the first fires, no longer.
					if a := probeStatus(t, st, "CheckoutAvailabilityLow"); a.Samples != 8 {
						t.Errorf("the alert was sampled %d times, want 8 (4 in the baseline, +1s to +4s)", a.Samples)
					}
				},
			},
		},
		"Prometheus' alert state dates the alert at the evaluation that fired it, between samples": {
			world: world{
				spec: podKill(alerts("CheckoutAvailabilityLow")),
				script: script{
					"checkout-ready":          {bad: []span{during(inj(1*sec), inj(6*sec))}},
					"CheckoutAvailabilityLow": {bad: []span{during(inj(3500*time.Millisecond), forever)}},
				},
				alertState: &alertState{within: 15 * sec},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"alertedAt": inj(3500 * time.Millisecond), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 3500 * time.Millisecond, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByAlert,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by alert in 3.5s (±15s: Prometheus' alert state dated it (rule evaluation interval))",
				extra:      figureResolution("timeToDetect", chaosv1alpha1.ResolutionAlert, 15*sec, nil),
			},
		},
		"an alert that fired while the operator was down is dated by Prometheus, not by the gap": {
			world: world{
				spec: podKill(alerts("CheckoutAvailabilityLow")),
				script: script{
					"checkout-ready":          {bad: []span{during(inj(1*sec), inj(6*sec))}},
					"CheckoutAvailabilityLow": {bad: []span{during(inj(2500*time.Millisecond), forever)}},
				},
				outages:    []span{during(inj(1500*time.Millisecond), inj(8*sec))},
				alertState: &alertState{},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				// The sample at +8s, the first after the outage, sees the
				// alert firing and the workload ready again.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"alertedAt": inj(2500 * time.Millisecond), "recoveredAt": inj(8 * sec), "revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 2500 * time.Millisecond, "timeToRecover": 8 * sec},
				detectedBy: chaosv1alpha1.DetectedByAlert,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by alert in 2.5s (Prometheus' alert state dated it; the rule evaluation interval is unknown)",
				extra: all(
					gaps(wantGap{inj(1 * sec), inj(8 * sec), chaosv1alpha1.GapNotSampled, 0}),
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionAlert, 0, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionGap, 7*sec, &wantGap{inj(1 * sec), inj(8 * sec), chaosv1alpha1.GapNotSampled, 0}),
				),
			},
		},
		"an alert state that says it fired before the injection is not trusted: the sample dates the alert": {
			world: world{
				spec: podKill(alerts("CheckoutAvailabilityLow")),
				script: script{
					"checkout-ready":          {bad: []span{during(inj(1*sec), inj(6*sec))}},
					"CheckoutAvailabilityLow": {bad: []span{during(inj(3500*time.Millisecond), forever)}},
				},
				alertState: &alertState{shift: -4 * sec, within: 15 * sec},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"alertedAt": inj(4 * sec), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 4 * sec, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByAlert,
				objectives: bothMet,
				conditions: passedConditions,
				extra:      figureResolution("timeToDetect", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
			},
		},
		"an alert state dated after the sample that saw it firing counts as that sample": {
			world: world{
				spec: podKill(alerts("CheckoutAvailabilityLow")),
				script: script{
					"checkout-ready":          {bad: []span{during(inj(1*sec), inj(6*sec))}},
					"CheckoutAvailabilityLow": {bad: []span{during(inj(3500*time.Millisecond), forever)}},
				},
				alertState: &alertState{shift: 2 * sec, within: 15 * sec},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"alertedAt": inj(4 * sec), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 4 * sec, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByAlert,
				objectives: bothMet,
				conditions: passedConditions,
				extra:      figureResolution("timeToDetect", chaosv1alpha1.ResolutionAlert, 15*sec, nil),
			},
		},
		"a range query places a Prometheus probe's deviation and recovery at the evaluations that crossed": {
			world: world{
				spec:       podKill(prometheusProbesOnly),
				script:     script{"success-rate": {bad: []span{during(inj(1500*time.Millisecond), inj(4200*time.Millisecond))}}},
				rangeQuery: scriptedRange(250 * time.Millisecond),
				// A slow refinement neither records a gap nor moves the
				// verdict's instant: the run ended when its observation did.
				refineTakes: 10 * sec,
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				// Samples fail at +2s..+4s and pass from +5s.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1500 * time.Millisecond), "recoveredAt": inj(4200 * time.Millisecond),
					"revertedAt": inj(7 * sec), "finishedAt": inj(7 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1500 * time.Millisecond, "timeToRecover": 4200 * time.Millisecond},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by probes in 1.5s (±250ms: a range query re-evaluated the probes at that step)",
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionRangeQuery, 250*time.Millisecond, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionRangeQuery, 250*time.Millisecond, nil),
					refinedOnce,
					gaps(),
				),
			},
		},
		"a refinement later than the sample or earlier than the injection is refused: the samples place the crossings": {
			world: world{
				spec:   podKill(prometheusProbesOnly),
				script: script{"success-rate": {bad: []span{during(inj(1500*time.Millisecond), inj(4200*time.Millisecond))}}},
				rangeQuery: func(c probes.Crossing, _ script, _ *chaosv1alpha1.ExperimentRunStatus) probes.Refined {
					if c.Kind == probes.CrossingDeviation {
						return probes.Refined{At: c.From.Add(-500 * time.Millisecond), Within: 250 * time.Millisecond}
					}
					return probes.Refined{At: c.To.Add(500 * time.Millisecond), Within: 250 * time.Millisecond}
				},
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(2 * sec), "recoveredAt": inj(5 * sec),
					"revertedAt": inj(7 * sec), "finishedAt": inj(7 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 2 * sec, "timeToRecover": 5 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
					refinedOnce,
				),
			},
		},
		"with a workload probe too, only the deviation is refined: the workload may have returned after the Prometheus probe": {
			world: world{
				spec:       podKill(),
				script:     script{"success-rate": {bad: []span{during(inj(1500*time.Millisecond), inj(4200*time.Millisecond))}}},
				rangeQuery: scriptedRange(250 * time.Millisecond),
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1500 * time.Millisecond), "recoveredAt": inj(5 * sec),
					"revertedAt": inj(7 * sec), "finishedAt": inj(7 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1500 * time.Millisecond, "timeToRecover": 5 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionRangeQuery, 250*time.Millisecond, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
					refinedOnce,
				),
			},
		},
		"a workload's crossing is never sent for refinement": {
			world: world{
				spec:       podKill(),
				script:     script{"checkout-ready": {bad: []span{during(inj(1500*time.Millisecond), inj(4200*time.Millisecond))}}},
				rangeQuery: scriptedRange(250 * time.Millisecond),
			},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(2 * sec), "recoveredAt": inj(5 * sec),
					"revertedAt": inj(7 * sec), "finishedAt": inj(7 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 2 * sec, "timeToRecover": 5 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				never:      []engine.Action{engine.ActionRefine},
			},
		},
		"alerts declared but none fired: detection objective missed, verdict Failed": {
			world: world{spec: podKill(alerts("CheckoutAvailabilityLow")), script: podDownFor5s},
			want: want{
				verdict: chaosv1alpha1.VerdictFailed, reason: chaosv1alpha1.ReasonFailed,
				// Recovered at +8s, the run waits for the alert until detectWithin.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"recoveredAt": inj(6 * sec), "revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 6 * sec},
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMissed, "recoverWithin": chaosv1alpha1.ObjectiveMet},
				conditions: map[string]string{
					"Completed": "True/Failed", "Detected": "True/Deviated", "Recovered": "True/Recovered", "Injected": "True/FaultReverted",
				},
				message: "no alert (CheckoutAvailabilityLow) fired",
			},
		},
		"recovery objective missed fails the run": {
			world: world{spec: podKill(), script: script{"checkout-ready": {bad: []span{during(inj(1*sec), inj(40*sec))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictFailed, reason: chaosv1alpha1.ReasonFailed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(40 * sec), "revertedAt": inj(42 * sec), "finishedAt": inj(42 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 40 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveMissed},
				conditions: map[string]string{
					"Completed": "True/Failed", "Detected": "True/Deviated", "Recovered": "True/Recovered", "Injected": "True/FaultReverted",
				},
				message: "recovered in 40s (objective 30s: missed)",
			},
		},
		"never recovers: Failed after recoveryTimeout": {
			world: world{spec: podKill(recoveryTimeout(20 * sec)), script: script{"checkout-ready": {bad: []span{during(inj(1*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictFailed, reason: chaosv1alpha1.ReasonNotRecovered,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "revertedAt": inj(20 * sec), "finishedAt": inj(20 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveMissed},
				conditions: map[string]string{
					"Completed": "True/NotRecovered", "Detected": "True/Deviated", "Recovered": "False/NotRecovered", "Injected": "True/FaultReverted",
				},
				message: "did not recover within 20s",
			},
		},
		"a sustained fault that never recovers: the recovery timeout runs from the revert": {
			world: world{spec: istio(10*sec, recoveryTimeout(20*sec)), script: script{"success-rate": {bad: []span{during(inj(1*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictFailed, reason: chaosv1alpha1.ReasonNotRecovered,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "revertedAt": inj(10 * sec), "finishedAt": rev(20 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveMissed},
				conditions: map[string]string{
					"Completed": "True/NotRecovered", "Detected": "True/Deviated", "Recovered": "False/NotRecovered", "Injected": "True/FaultReverted",
				},
			},
		},
		"sustained fault: held for duration, then reverted, then recovery measured from injection": {
			world: world{spec: istio(10 * sec), script: script{"success-rate": {bad: []span{during(inj(1*sec), rev(2*sec))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "revertedAt": inj(10 * sec), "recoveredAt": rev(2 * sec), "finishedAt": rev(4 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 12 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				// The engine asks for the revert from Observing when the hold
				// ends; no Reverting phase is written for it.
				phases: []chaosv1alpha1.RunPhase{chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
					chaosv1alpha1.PhaseRecovering, chaosv1alpha1.PhaseCompleted},
				extra: func(t *testing.T, d *driver, _ *chaosv1alpha1.ExperimentRunStatus) {
					obs := d.entered(chaosv1alpha1.PhaseObserving)
					if obs == nil || obs.status.Progress.HoldUntil == nil || !obs.status.Progress.HoldUntil.Equal(micro(t0.Add(13*sec))) {
						t.Errorf("holdUntil when observing began = %v, want injection+10s", obs)
					}
					if p := d.entered(chaosv1alpha1.PhaseRecovering); p == nil || !p.at.Equal(t0.Add(13*sec)) {
						t.Errorf("Recovering entered at %v, want injection+10s", p)
					}
				},
			},
		},
		"dry run whose baseline held and whose targets resolved passes, injecting nothing": {
			world: world{spec: podKill(), dryRun: true},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonDryRun,
				timeline:   map[string]instant{"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/DryRun", "Injected": "False/DryRun"},
				message:    "Passed: dry run: nothing was injected; the steady state held and the fault would have hit 1 target(s): pod/shop/checkout-a",
				never:      []engine.Action{engine.ActionInject, engine.ActionRevert},
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					if len(st.Targets) != 1 || st.Targets[0].Name != "checkout-a" || st.Targets[0].Phase != chaosv1alpha1.TargetSelected {
						t.Errorf("targets = %+v, want checkout-a recorded as Selected", st.Targets)
					}
				},
			},
		},
		"no eligible target: Inconclusive, nothing injected": {
			world: world{spec: podKill(), selectErr: errors.New("no eligible targets: none of 4 candidates matched the target")},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonNoTargets,
				timeline:   map[string]instant{"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/NoTargets", "Injected": "False/NotInjected"},
				message:    "none of 4 candidates matched",
				never:      []engine.Action{engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"dry run says how many targets the fault would have hit": {
			world: world{spec: istio(30 * sec), dryRun: true, targets: 3},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonDryRun,
				timeline:   map[string]instant{"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/DryRun", "Injected": "False/DryRun"},
				message:    "would have hit 3 target(s)",
				never:      []engine.Action{engine.ActionInject, engine.ActionRevert},
			},
		},
		"dry run whose baseline did not hold stays Inconclusive": {
			world: world{spec: podKill(), dryRun: true, script: script{"success-rate": {bad: []span{during(at(1*sec), forever)}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonBaselineNotHeld,
				timeline:   map[string]instant{"startedAt": at(0), "finishedAt": at(1 * sec)},
				conditions: map[string]string{"Completed": "True/BaselineNotHeld", "Injected": "False/DryRun"},
				message:    "nothing was injected",
				never:      []engine.Action{engine.ActionSelectTargets, engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"dry run with no eligible target ends as a run with no target does": {
			world: world{spec: podKill(), dryRun: true, selectErr: errors.New("no eligible targets: none of 4 candidates matched the target")},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonNoTargets,
				timeline:   map[string]instant{"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/NoTargets", "Injected": "False/DryRun"},
				message:    "none of 4 candidates matched",
				never:      []engine.Action{engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"an empty selection without an error ends the run instead of selecting forever": {
			world: world{spec: podKill(), emptySelection: true},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonNoTargets,
				timeline:   map[string]instant{"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "finishedAt": at(3 * sec)},
				conditions: map[string]string{"Completed": "True/NoTargets", "Injected": "False/NotInjected"},
				never:      []engine.Action{engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"injection fails on every target: reverted and Inconclusive": {
			world: world{spec: istio(30 * sec), targets: 2, failInject: []string{"checkout-a", "checkout-b"}},
			want: want{
				verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonInjectionFailed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "revertedAt": at(3 * sec), "finishedAt": at(3 * sec),
				},
				objectives: notMeasured,
				conditions: map[string]string{"Completed": "True/InjectionFailed", "Injected": "False/InjectionFailed"},
				abort:      &wantAbort{reason: chaosv1alpha1.AbortInjectionFailed},
				phases: []chaosv1alpha1.RunPhase{chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting,
					chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseCompleted},
				message: `pods "checkout-b" not found`,
			},
		},
		"one of two targets fails: the run goes on and says so": {
			world: world{spec: podKill(), script: podDownFor5s, targets: 2, failInject: []string{"checkout-b"}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(6 * sec), "revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 6 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: func(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					obs := d.entered(chaosv1alpha1.PhaseObserving)
					if want := `1 target(s) failed: pod/shop/checkout-b: pods "checkout-b" not found`; obs == nil || !strings.Contains(obs.status.Message, want) {
						t.Errorf("message while observing = %v, want it to contain %q", obs, want)
					}
					if st.Targets[0].Phase != chaosv1alpha1.TargetReverted || st.Targets[1].Phase != chaosv1alpha1.TargetFailed {
						t.Errorf("target phases = %s, %s; want Reverted, Failed", st.Targets[0].Phase, st.Targets[1].Phase)
					}
				},
			},
		},
		"another writer's edit is left in place and the run still finishes": {
			world: world{spec: istio(10 * sec), conflicts: []string{"checkout-a"}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(13 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					if st.Targets[0].Phase != chaosv1alpha1.TargetConflict {
						t.Errorf("target phase = %s, want Conflict", st.Targets[0].Phase)
					}
				},
			},
		},
		"kill switch during observation: aborts and reverts": {
			world: world{spec: istio(30 * sec), killSwitch: ptr(inj(3500 * time.Millisecond)), revertTakes: 100 * time.Millisecond},
			want: want{
				verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"abort.decidedAt": inj(3500 * time.Millisecond), "revertedAt": inj(3600 * time.Millisecond), "finishedAt": inj(3600 * time.Millisecond),
				},
				figures:    map[string]time.Duration{"abortLatency": 100 * time.Millisecond},
				objectives: notMeasured,
				conditions: map[string]string{"Completed": "True/Aborted", "Aborted": "True/KillSwitch", "Injected": "True/FaultReverted"},
				abort:      &wantAbort{reason: chaosv1alpha1.AbortKillSwitch},
				message:    "fault reverted 100ms after the kill switch was seen",
				phases: []chaosv1alpha1.RunPhase{chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
					chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseCompleted},
			},
		},
		"abort before injection finishes at once without a revert": {
			world: world{spec: podKill(), killSwitch: ptr(at(1500 * time.Millisecond))},
			want: want{
				verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted,
				timeline:   map[string]instant{"startedAt": at(0), "abort.decidedAt": at(1500 * time.Millisecond), "finishedAt": at(1500 * time.Millisecond)},
				objectives: notMeasured,
				conditions: map[string]string{"Completed": "True/Aborted", "Aborted": "True/KillSwitch", "Injected": "False/NotInjected"},
				abort:      &wantAbort{reason: chaosv1alpha1.AbortKillSwitch},
				never:      []engine.Action{engine.ActionSelectTargets, engine.ActionInject, engine.ActionRevert},
				extra:      noTargets,
			},
		},
		"a recovery first seen after an operator outage has the outage as its resolution": {
			// Down from +1s to +6s; the operator takes samples at +1s and
			// +2s, then nothing until +9.5s, which passes.
			world: world{spec: podKill(), script: podDownFor5s, outages: []span{during(inj(2500*time.Millisecond), inj(9500*time.Millisecond))}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(1 * sec), "recoveredAt": inj(9500 * time.Millisecond),
					"revertedAt": inj(11500 * time.Millisecond), "finishedAt": inj(11500 * time.Millisecond),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec, "timeToRecover": 9500 * time.Millisecond},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "recovered in 9.5s (±7.5s: the operator was not sampling from +2s to +9.5s)",
				extra: all(
					gaps(wantGap{inj(2 * sec), inj(9500 * time.Millisecond), chaosv1alpha1.GapNotSampled, 0}),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionGap, 7500*time.Millisecond, &wantGap{inj(2 * sec), inj(9500 * time.Millisecond), chaosv1alpha1.GapNotSampled, 0}),
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
				),
			},
		},
		"a deviation first seen after an outage right after the injection": {
			world: world{spec: podKill(), script: script{"checkout-ready": {bad: []span{during(inj(1*sec), inj(8*sec))}}},
				outages: []span{during(inj(0), inj(5500*time.Millisecond))}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(5500 * time.Millisecond), "recoveredAt": inj(8500 * time.Millisecond),
					"revertedAt": inj(10500 * time.Millisecond), "finishedAt": inj(10500 * time.Millisecond),
				},
				figures:    map[string]time.Duration{"timeToDetect": 5500 * time.Millisecond, "timeToRecover": 8500 * time.Millisecond},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by probes in 5.5s (±5.5s: the operator was not sampling from +0s to +5.5s)",
				extra: all(
					gaps(wantGap{inj(0), inj(5500 * time.Millisecond), chaosv1alpha1.GapNotSampled, 0}),
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionGap, 5500*time.Millisecond, &wantGap{inj(0), inj(5500 * time.Millisecond), chaosv1alpha1.GapNotSampled, 0}),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
				),
			},
		},
		"probes that did not answer for a while leave a gap an absorbed fault may hide in": {
			world: world{spec: podKill(onProbeError(chaosv1alpha1.ProbeErrorAbort, 10)),
				script: script{"success-rate": {errs: []span{during(inj(1*sec), inj(5*sec))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(10 * sec), "finishedAt": inj(10 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				message:    "the probes did not answer from +0s to +5s), and a deviation then would have gone unseen",
				extra: all(
					gaps(wantGap{inj(0), inj(5 * sec), chaosv1alpha1.GapProbeErrors, 4}),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionGap, 5*sec, &wantGap{inj(0), inj(5 * sec), chaosv1alpha1.GapProbeErrors, 4}),
				),
			},
		},
		"gaps beyond the limit are counted, not listed": {
			world: world{spec: istio(120*sec, onProbeError(chaosv1alpha1.ProbeErrorAbort, 10)), script: script{"success-rate": {errs: func() []span {
				var spans []span
				for k := range engine.MaxGaps + 2 {
					spans = append(spans, during(inj(time.Duration(5*k+1)*sec), inj(time.Duration(5*k+4)*sec)))
				}
				return spans
			}()}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"revertedAt": inj(120 * sec), "finishedAt": inj(123 * sec),
				},
				figures:    map[string]time.Duration{"timeToRecover": 0},
				objectives: absorbedObjectives,
				conditions: absorbedConditions,
				extra: func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
					if len(st.Timeline.Gaps) != engine.MaxGaps || st.Timeline.GapsOmitted != 2 {
						t.Errorf("%d gaps listed, %d omitted; want %d and 2", len(st.Timeline.Gaps), st.Timeline.GapsOmitted, engine.MaxGaps)
					}
					for k, g := range st.Timeline.Gaps {
						if want := 4 * sec; g.To.Sub(g.From.Time) != want || g.UnansweredSamples != 3 {
							t.Errorf("gap %d = %s for %s with %d unanswered samples, want %s with 3", k, g.From.Sub(t0), g.To.Sub(g.From.Time), g.UnansweredSamples, want)
						}
					}
				},
			},
		},
		"watch events date the workload's deviation and recovery between samples": {
			world: world{spec: podKill(), watched: true,
				script: script{"checkout-ready": {bad: []span{during(inj(50*time.Millisecond), inj(5300*time.Millisecond))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				// Samples fail at +1s..+5s and pass from +6s; the streak of
				// +6s, +7s, +8s starts at the change the watch dated.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(50 * time.Millisecond), "recoveredAt": inj(5300 * time.Millisecond),
					"revertedAt": inj(8 * sec), "finishedAt": inj(8 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 50 * time.Millisecond, "timeToRecover": 5300 * time.Millisecond},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				message:    "detected by probes in 50ms (event-driven",
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionEvent, 0, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionEvent, 0, nil),
				),
			},
		},
		"a dated change earlier than the sample before it is not trusted: the samples place the crossings": {
			world: world{spec: podKill(), watched: true, sinceShift: -3 * sec,
				script: script{"checkout-ready": {bad: []span{during(inj(1500*time.Millisecond), inj(6500*time.Millisecond))}}}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(2 * sec), "recoveredAt": inj(7 * sec),
					"revertedAt": inj(9 * sec), "finishedAt": inj(9 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 2 * sec, "timeToRecover": 7 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
				),
			},
		},
		"a dated recovery waits for the probe that was failing; one that was passing does not hold it back": {
			world: world{spec: podKill(), watched: true,
				script: script{
					"checkout-ready": {bad: []span{during(inj(200*time.Millisecond), inj(2400*time.Millisecond))}},
					"success-rate":   {bad: []span{during(inj(3*sec), inj(4*sec))}},
				}},
			want: want{
				verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed,
				// Fails at +1s, +2s (workload), +3s (success rate);
				// the success rate is not dated, so its recovery is the
				// sample at +4s.
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec),
					"deviatedAt": inj(200 * time.Millisecond), "recoveredAt": inj(4 * sec),
					"revertedAt": inj(6 * sec), "finishedAt": inj(6 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 200 * time.Millisecond, "timeToRecover": 4 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: bothMet,
				conditions: passedConditions,
				extra: all(
					figureResolution("timeToDetect", chaosv1alpha1.ResolutionEvent, 0, nil),
					figureResolution("timeToRecover", chaosv1alpha1.ResolutionProbeInterval, sec, nil),
				),
			},
		},
		"kill switch after the revert ends the run at once, with no abort latency to report": {
			world: world{
				spec:       istio(10 * sec),
				script:     script{"success-rate": {bad: []span{during(inj(1*sec), forever)}}},
				killSwitch: ptr(rev(3 * sec)),
			},
			want: want{
				verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted,
				timeline: map[string]instant{
					"startedAt": at(0), "baselineVerifiedAt": at(3 * sec), "injectedAt": at(3 * sec), "deviatedAt": inj(1 * sec),
					"revertedAt": inj(10 * sec), "abort.decidedAt": rev(3 * sec), "finishedAt": rev(3 * sec),
				},
				figures:    map[string]time.Duration{"timeToDetect": 1 * sec},
				detectedBy: chaosv1alpha1.DetectedByProbe,
				objectives: map[string]chaosv1alpha1.ObjectiveStatus{"detectWithin": chaosv1alpha1.ObjectiveMet, "recoverWithin": chaosv1alpha1.ObjectiveNotMeasured},
				conditions: map[string]string{
					"Completed": "True/Aborted", "Aborted": "True/KillSwitch", "Detected": "True/Deviated",
					"Recovered": "False/NotRecovered", "Injected": "True/FaultReverted",
				},
				abort:   &wantAbort{reason: chaosv1alpha1.AbortKillSwitch},
				message: "Aborted: aborted: ChaosPolicy default is paused",
			},
		},
	}
}

// scriptedRange answers a refinement from the script, as a range query at
// step over the real data would: a deviation at the start of the first bad
// span of the crossing's probes after its From, a recovery at the end of
// the last bad span ending by its To.
func scriptedRange(step time.Duration) func(c probes.Crossing, sc script, st *chaosv1alpha1.ExperimentRunStatus) probes.Refined {
	return func(c probes.Crossing, sc script, st *chaosv1alpha1.ExperimentRunStatus) probes.Refined {
		var found time.Time
		for _, name := range c.Probes {
			for _, sp := range sc[name].bad {
				from, _ := sp.from.resolve(st)
				to, ok := sp.to.resolve(st)
				switch {
				case c.Kind == probes.CrossingDeviation && !from.Before(c.From) && (found.IsZero() || from.Before(found)):
					found = from
				case c.Kind == probes.CrossingRecovery && ok && !to.After(c.To) && to.After(found):
					found = to
				}
			}
		}
		if found.IsZero() {
			return probes.Refined{Err: probes.ErrNoCrossing}
		}
		return probes.Refined{At: found, Within: step}
	}
}

// refinedOnce checks the run asked for one refinement and kept nothing of it.
func refinedOnce(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus) {
	t.Helper()
	if d.refines != 1 {
		t.Errorf("the run asked for %d refinements, want 1 (before its verdict)", d.refines)
	}
	if len(st.Progress.Refine) != 0 || st.Progress.RefineRequestedAt != nil {
		t.Errorf("progress still holds refinements %+v (requested at %v)", st.Progress.Refine, st.Progress.RefineRequestedAt)
	}
}

// all runs every check.
func all(checks ...func(*testing.T, *driver, *chaosv1alpha1.ExperimentRunStatus)) func(*testing.T, *driver, *chaosv1alpha1.ExperimentRunStatus) {
	return func(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus) {
		t.Helper()
		for _, c := range checks {
			c(t, d, st)
		}
	}
}

// wantGap is a gap the run must have recorded.
type wantGap struct {
	from, to   instant
	cause      chaosv1alpha1.GapCause
	unanswered int32
}

func (w wantGap) check(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, what string, g chaosv1alpha1.SamplingGap) {
	t.Helper()
	from, _ := w.from.resolve(st)
	to, _ := w.to.resolve(st)
	if !g.From.Time.Equal(from) || !g.To.Time.Equal(to) || g.Cause != w.cause || g.UnansweredSamples != w.unanswered {
		t.Errorf("%s = start+%s to start+%s, %s, %d unanswered; want %s to %s, %s, %d unanswered",
			what, g.From.Sub(t0), g.To.Sub(t0), g.Cause, g.UnansweredSamples, w.from, w.to, w.cause, w.unanswered)
	}
}

// gaps checks the run recorded exactly these gaps.
func gaps(want ...wantGap) func(*testing.T, *driver, *chaosv1alpha1.ExperimentRunStatus) {
	return func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
		t.Helper()
		if len(st.Timeline.Gaps) != len(want) {
			t.Fatalf("gaps = %+v, want %d", st.Timeline.Gaps, len(want))
		}
		for i, w := range want {
			w.check(t, st, fmt.Sprintf("gap %d", i), st.Timeline.Gaps[i])
		}
	}
}

// figureResolution checks how precisely the result says figure is known.
func figureResolution(figure string, source chaosv1alpha1.ResolutionSource, within time.Duration, gap *wantGap) func(*testing.T, *driver, *chaosv1alpha1.ExperimentRunStatus) {
	return func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
		t.Helper()
		for _, fr := range st.Result.Resolutions {
			if fr.Figure != figure {
				continue
			}
			if fr.Source != source || fr.Within.Duration != within {
				t.Errorf("%s resolution = %s within %s, want %s within %s", figure, fr.Source, fr.Within.Duration, source, within)
			}
			switch {
			case gap == nil && fr.Gap != nil:
				t.Errorf("%s resolution names gap %+v, want none", figure, fr.Gap)
			case gap != nil && fr.Gap == nil:
				t.Errorf("%s resolution names no gap, want one", figure)
			case gap != nil:
				gap.check(t, st, figure+" resolution gap", *fr.Gap)
			}
			return
		}
		t.Errorf("no resolution for %s in %+v", figure, st.Result.Resolutions)
	}
}

func noTargets(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
	t.Helper()
	if len(st.Targets) != 0 {
		t.Errorf("targets = %+v, want none", st.Targets)
	}
}

// baselineHeld checks the steady state was seen passing for the whole baseline.
func baselineHeld(d time.Duration) func(*testing.T, *driver, *chaosv1alpha1.ExperimentRunStatus) {
	return func(t *testing.T, _ *driver, st *chaosv1alpha1.ExperimentRunStatus) {
		t.Helper()
		since, verified := st.Progress.BaselineSince, st.Timeline.BaselineVerifiedAt
		if since == nil || verified == nil {
			t.Fatalf("baselineSince %v, baselineVerifiedAt %v: want both", since, verified)
		}
		if held := verified.Sub(since.Time); held < d {
			t.Errorf("baseline held %s before injection, want at least %s", held, d)
		}
	}
}

func probeStatus(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, name string) chaosv1alpha1.ProbeStatus {
	t.Helper()
	for _, p := range st.Probes {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no probe status for %s in %+v", name, st.Probes)
	return chaosv1alpha1.ProbeStatus{}
}

func TestRun(t *testing.T) {
	for name, tc := range runCases() {
		t.Run(name, func(t *testing.T) {
			d := start(t, tc.world)
			st := d.finish()
			checkOutcome(t, d, st, tc.want)
		})
	}
}

// TestRunResumesFromStatusAlone interrupts every scenario after each step,
// carries only the status over (through JSON, as the API server stores it)
// into a fresh Run, and expects the very status of the uninterrupted run.
func TestRunResumesFromStatusAlone(t *testing.T) {
	for name, tc := range runCases() {
		t.Run(name, func(t *testing.T) {
			whole := start(t, tc.world)
			want := toJSON(t, whole.finish())
			for k := 1; k < whole.steps; k++ {
				d := start(t, tc.world)
				for range k {
					d.step()
				}
				var restored chaosv1alpha1.ExperimentRunStatus
				if err := json.Unmarshal(toJSON(t, d.run.Status), &restored); err != nil {
					t.Fatal(err)
				}
				d.attach(&restored)
				if got := toJSON(t, d.finish()); string(got) != string(want) {
					t.Fatalf("resumed after step %d of %d:\n got %s\nwant %s", k, whole.steps, got, want)
				}
			}
		})
	}
}

func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkOutcome(t *testing.T, d *driver, st *chaosv1alpha1.ExperimentRunStatus, w want) {
	t.Helper()
	if st.Verdict != w.verdict {
		t.Errorf("verdict = %s, want %s (message %q)", st.Verdict, w.verdict, st.Message)
	}
	if c := findCondition(st, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != w.reason {
		t.Errorf("Completed condition = %+v, want reason %s", c, w.reason)
	}
	if w.message != "" && !strings.Contains(st.Message, w.message) {
		t.Errorf("message = %q, want it to contain %q", st.Message, w.message)
	}
	if !strings.HasPrefix(st.Message, string(w.verdict)+": ") {
		t.Errorf("message = %q, want it to start with the verdict", st.Message)
	}

	checkTimeline(t, st, w.timeline)
	checkResult(t, st, w)

	gotConditions := map[string]string{}
	for _, c := range st.Conditions {
		gotConditions[c.Type] = string(c.Status) + "/" + c.Reason
		if c.LastTransitionTime.IsZero() {
			t.Errorf("condition %s has no lastTransitionTime", c.Type)
		}
	}
	if !reflect.DeepEqual(gotConditions, w.conditions) {
		t.Errorf("conditions = %v, want %v", gotConditions, w.conditions)
	}

	// Injected, once True, never turns False: readers and
	// `kubectl wait --for=condition=Injected` take False to mean that
	// nothing was ever injected.
	for _, p := range d.phases {
		if p.status.Timeline.InjectedAt == nil {
			continue
		}
		if c := findCondition(p.status, chaosv1alpha1.ConditionInjected); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("Injected condition on entering %s after injection = %+v, want True", p.phase, c)
		}
	}

	checkAbort(t, st, w.abort)

	if w.phases != nil {
		var got []chaosv1alpha1.RunPhase
		for _, p := range d.phases {
			got = append(got, p.phase)
		}
		if !slices.Equal(got, w.phases) {
			t.Errorf("phases = %v, want %v", got, w.phases)
		}
	}
	for _, a := range w.never {
		if n := d.seen[a]; n > 0 {
			t.Errorf("Next asked for %s %d time(s), want never", a, n)
		}
	}
	if w.extra != nil {
		w.extra(t, d, st)
	}
}

func checkTimeline(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, want map[string]instant) {
	t.Helper()
	tl := st.Timeline
	got := map[string]*metav1.MicroTime{
		"startedAt": tl.StartedAt, "baselineVerifiedAt": tl.BaselineVerifiedAt, "injectedAt": tl.InjectedAt,
		"deviatedAt": tl.DeviatedAt, "alertedAt": tl.AlertedAt, "abort.decidedAt": engine.AbortDecidedAt(st),
		"revertedAt": tl.RevertedAt, "recoveredAt": tl.RecoveredAt, "finishedAt": tl.FinishedAt,
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Fatalf("the test expects an unknown timeline instant %s", name)
		}
	}
	for name, g := range got {
		w, expected := want[name]
		field := "timeline." + name
		if strings.Contains(name, ".") {
			field = name // abort.decidedAt
		}
		switch {
		case !expected && g != nil:
			t.Errorf("%s = start+%s, want unset", field, g.Sub(t0))
		case expected && g == nil:
			t.Errorf("%s unset, want %s", field, w)
		case expected:
			wt, ok := w.resolve(st)
			if !ok {
				t.Errorf("%s: the anchor of %s is unset", field, w)
			} else if !g.Time.Equal(wt) {
				t.Errorf("%s = start+%s, want %s = start+%s", field, g.Sub(t0), w, wt.Sub(t0))
			}
		}
	}
}

func checkResult(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, w want) {
	t.Helper()
	res := st.Result
	if res == nil {
		t.Fatalf("no result in a finished run")
	}
	got := map[string]*metav1.Duration{"timeToDetect": res.TimeToDetect, "timeToRecover": res.TimeToRecover,
		"abortLatency": res.AbortLatency, "breachToDecision": res.BreachToDecision}
	for name, g := range got {
		wd, expected := w.figures[name]
		switch {
		case !expected && g != nil:
			t.Errorf("result.%s = %s, want unset", name, g.Duration)
		case expected && g == nil:
			t.Errorf("result.%s unset, want %s", name, wd)
		case expected && g.Duration != wd:
			t.Errorf("result.%s = %s, want %s", name, g.Duration, wd)
		}
	}
	if res.DetectedBy != w.detectedBy {
		t.Errorf("result.detectedBy = %q, want %q", res.DetectedBy, w.detectedBy)
	}
	gotObjectives := map[string]chaosv1alpha1.ObjectiveStatus{}
	for _, o := range res.Objectives {
		gotObjectives[o.Name] = o.Status
	}
	if len(gotObjectives) != len(w.objectives) || (len(w.objectives) > 0 && !reflect.DeepEqual(gotObjectives, w.objectives)) {
		t.Errorf("objectives = %v, want %v", gotObjectives, w.objectives)
	}
}

func checkAbort(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, w *wantAbort) {
	t.Helper()
	a := st.Abort
	switch {
	case w == nil && a != nil:
		t.Errorf("abort = %+v, want none", a)
		return
	case w == nil:
		return
	case a == nil:
		t.Errorf("no abort, want %s", w.reason)
		return
	}
	if a.Reason != w.reason || a.Guard != w.guard || a.Value != w.value || a.Message == "" {
		t.Errorf("abort = %s guard %q value %q message %q; want %s guard %q value %q and a message",
			a.Reason, a.Guard, a.Value, a.Message, w.reason, w.guard, w.value)
	}
	checkAbortInstant(t, st, "firstBreachAt", a.FirstBreachAt, w.firstBreachAt)
	checkAbortInstant(t, st, "firstErrorAt", a.FirstErrorAt, w.firstErrorAt)
}

func checkAbortInstant(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, name string, got *metav1.MicroTime, want *instant) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("abort.%s = start+%s, want unset", name, got.Sub(t0))
	case want != nil && got == nil:
		t.Errorf("abort.%s unset, want %s", name, *want)
	case want != nil:
		if wt, _ := want.resolve(st); !got.Time.Equal(wt) {
			t.Errorf("abort.%s = start+%s, want %s", name, got.Sub(t0), *want)
		}
	}
}

func findCondition(st *chaosv1alpha1.ExperimentRunStatus, typ string) *metav1.Condition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

func TestNext(t *testing.T) {
	now := t0.Add(time.Minute)
	ago := func(d time.Duration) *metav1.MicroTime { return micro(now.Add(-d)) }
	in := func(d time.Duration) *metav1.MicroTime { return micro(now.Add(d)) }
	observing := func(p chaosv1alpha1.Progress) chaosv1alpha1.ExperimentRunStatus {
		return chaosv1alpha1.ExperimentRunStatus{
			Phase:    chaosv1alpha1.PhaseObserving,
			Timeline: chaosv1alpha1.Timeline{StartedAt: ago(30 * sec), InjectedAt: ago(5 * sec)},
			Progress: p,
		}
	}
	tests := map[string]struct {
		spec   *chaosv1alpha1.ExperimentSpec
		status chaosv1alpha1.ExperimentRunStatus
		want   engine.Next
	}{
		"baseline with nothing sampled yet: samples the probes at once": {
			spec:   podKill(guard(sec), alerts("CheckoutAvailabilityLow")),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline},
			want:   engine.Next{Action: engine.ActionSample, Set: probes.Set{Probes: true, Alerts: true}},
		},
		"baseline sampled 300ms ago: waits 700ms": {
			spec:   podKill(),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline, Progress: chaosv1alpha1.Progress{LastSampleAt: ago(300 * time.Millisecond)}},
			want:   engine.Next{Action: engine.ActionWait, After: 700 * time.Millisecond},
		},
		"observing, sample due in 700ms: waits 700ms": {
			spec:   podKill(),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(300 * time.Millisecond)}),
			want:   engine.Next{Action: engine.ActionWait, After: 700 * time.Millisecond},
		},
		"observing a held fault whose hold ends before the next sample: waits until the hold ends": {
			spec:   istio(10 * sec),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(300 * time.Millisecond), HoldUntil: in(400 * time.Millisecond)}),
			want:   engine.Next{Action: engine.ActionWait, After: 400 * time.Millisecond},
		},
		"observing a held fault whose hold ends after the next sample: waits for the sample": {
			spec:   istio(10 * sec),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(300 * time.Millisecond), HoldUntil: in(2 * sec)}),
			want:   engine.Next{Action: engine.ActionWait, After: 700 * time.Millisecond},
		},
		"observing a held fault at the end of its hold: reverts": {
			spec:   istio(10 * sec),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(300 * time.Millisecond), HoldUntil: in(0)}),
			want:   engine.Next{Action: engine.ActionRevert},
		},
		"observing a held fault past its hold with a sample overdue: reverts first": {
			spec:   istio(10*sec, guard(sec)),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(3 * sec), HoldUntil: ago(sec)}),
			want:   engine.Next{Action: engine.ActionRevert},
		},
		"observing with guards and alerts declared: samples probes, guards and alerts": {
			spec:   podKill(guard(sec), alerts("CheckoutAvailabilityLow")),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(sec)}),
			want:   engine.Next{Action: engine.ActionSample, Set: probes.Set{Probes: true, Guards: true, Alerts: true}},
		},
		"observing after an alert fired: alerts are no longer sampled": {
			spec: podKill(guard(sec), alerts("CheckoutAvailabilityLow")),
			status: func() chaosv1alpha1.ExperimentRunStatus {
				st := observing(chaosv1alpha1.Progress{LastSampleAt: ago(sec)})
				st.Timeline.AlertedAt = ago(2 * sec)
				return st
			}(),
			want: engine.Next{Action: engine.ActionSample, Set: probes.Set{Probes: true, Guards: true}},
		},
		"observation over with a crossing to refine: asks for the range query, whatever the phase": {
			spec: istio(10 * sec),
			status: func() chaosv1alpha1.ExperimentRunStatus {
				st := observing(chaosv1alpha1.Progress{
					LastSampleAt:      ago(sec),
					Refine:            []chaosv1alpha1.CrossingToRefine{{Instant: "recoveredAt", Probes: []string{"success-rate"}}},
					RefineRequestedAt: ago(sec),
				})
				st.Phase = chaosv1alpha1.PhaseReverting
				st.Timeline.DeviatedAt, st.Timeline.RecoveredAt = ago(4*sec), ago(2*sec)
				return st
			}(),
			want: engine.Next{Action: engine.ActionRefine, Crossings: []probes.Crossing{{
				Instant: "recoveredAt", Kind: probes.CrossingRecovery, Probes: []string{"success-rate"},
				From: now.Add(-5 * sec), To: now.Add(-2 * sec),
			}}},
		},
		"a late reconcile samples at once": {
			spec:   podKill(),
			status: observing(chaosv1alpha1.Progress{LastSampleAt: ago(2500 * time.Millisecond)}),
			want:   engine.Next{Action: engine.ActionSample, Set: probes.Set{Probes: true}},
		},
		"recovering: guards are no longer sampled": {
			spec: istio(10*sec, guard(sec), alerts("CheckoutAvailabilityLow")),
			status: chaosv1alpha1.ExperimentRunStatus{
				Phase:    chaosv1alpha1.PhaseRecovering,
				Timeline: chaosv1alpha1.Timeline{InjectedAt: ago(12 * sec), RevertedAt: ago(2 * sec)},
				Progress: chaosv1alpha1.Progress{LastSampleAt: ago(sec), HoldUntil: ago(2 * sec)},
			},
			want: engine.Next{Action: engine.ActionSample, Set: probes.Set{Probes: true, Alerts: true}},
		},
		"injecting before targets are recorded: selects them": {
			spec:   podKill(),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseInjecting},
			want:   engine.Next{Action: engine.ActionSelectTargets},
		},
		"injecting with targets recorded: injects": {
			spec: podKill(),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseInjecting, Targets: []chaosv1alpha1.TargetStatus{
				{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-a", Phase: chaosv1alpha1.TargetSelected},
			}},
			want: engine.Next{Action: engine.ActionInject},
		},
		"reverting: reverts": {
			spec:   podKill(),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseReverting},
			want:   engine.Next{Action: engine.ActionRevert},
		},
		"completed: nothing left to do": {
			spec:   podKill(),
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed},
			want:   engine.Next{Action: engine.ActionNone},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tc.status.DeepCopy()
			got := engine.Run{Spec: tc.spec, Status: st}.Next(now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Next = %+v, want %+v", got, tc.want)
			}
			if !reflect.DeepEqual(st, &tc.status) {
				t.Errorf("Next changed the status:\n got %+v\nwant %+v", st, tc.status)
			}
		})
	}
}

func TestStart(t *testing.T) {
	tests := map[string]struct {
		status    chaosv1alpha1.ExperimentRunStatus
		wantPhase chaosv1alpha1.RunPhase
		wantStart *metav1.MicroTime
	}{
		"a pending run starts its baseline": {
			status:    chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending},
			wantPhase: chaosv1alpha1.PhaseBaseline, wantStart: micro(t0),
		},
		"a new run without a phase starts its baseline": {
			wantPhase: chaosv1alpha1.PhaseBaseline, wantStart: micro(t0),
		},
		"a run already observing is left as it is": {
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving,
				Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0.Add(-time.Minute))}},
			wantPhase: chaosv1alpha1.PhaseObserving, wantStart: micro(t0.Add(-time.Minute)),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tc.status.DeepCopy()
			engine.Run{Spec: podKill(), Status: st}.Start(t0)
			if st.Phase != tc.wantPhase || !st.Timeline.StartedAt.Equal(tc.wantStart) {
				t.Errorf("after Start: phase %s, startedAt %v; want %s, %v", st.Phase, st.Timeline.StartedAt, tc.wantPhase, tc.wantStart)
			}
		})
	}
}

// TestAbort covers Abort from each phase, on statuses built by hand.
func TestAbort(t *testing.T) {
	now := t0.Add(time.Minute)
	selected := []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "checkout-a", Phase: chaosv1alpha1.TargetSelected}}
	injected := []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "checkout-a",
		Phase: chaosv1alpha1.TargetInjected, InjectedAt: micro(now.Add(-5 * sec))}}
	tests := map[string]struct {
		status      chaosv1alpha1.ExperimentRunStatus
		wantPhase   chaosv1alpha1.RunPhase
		wantVerdict chaosv1alpha1.Verdict
		wantReason  chaosv1alpha1.AbortReason
	}{
		"during the baseline: finishes Aborted at once": {
			status:    chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline, Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0)}},
			wantPhase: chaosv1alpha1.PhaseCompleted, wantVerdict: chaosv1alpha1.VerdictAborted, wantReason: chaosv1alpha1.AbortKillSwitch,
		},
		"targets recorded but not yet confirmed injected: reverts them, the fault may be half applied": {
			status:    chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseInjecting, Targets: selected},
			wantPhase: chaosv1alpha1.PhaseReverting, wantReason: chaosv1alpha1.AbortKillSwitch,
		},
		"observing: reverts": {
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Targets: injected,
				Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0), InjectedAt: micro(now.Add(-5 * sec))}},
			wantPhase: chaosv1alpha1.PhaseReverting, wantReason: chaosv1alpha1.AbortKillSwitch,
		},
		"already aborting: the first reason stands": {
			status: chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseReverting, Targets: injected,
				Abort: &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortSLOBreached, Guard: "error-budget"}},
			wantPhase: chaosv1alpha1.PhaseReverting, wantReason: chaosv1alpha1.AbortSLOBreached,
		},
		"completed: the verdict stands": {
			status:    chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed},
			wantPhase: chaosv1alpha1.PhaseCompleted, wantVerdict: chaosv1alpha1.VerdictPassed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tc.status.DeepCopy()
			engine.Run{Spec: istio(30 * sec), Status: st}.Abort(now, chaosv1alpha1.AbortKillSwitch, "ChaosPolicy default is paused")
			var reason chaosv1alpha1.AbortReason
			if st.Abort != nil {
				reason = st.Abort.Reason
			}
			if st.Phase != tc.wantPhase || st.Verdict != tc.wantVerdict || reason != tc.wantReason {
				t.Errorf("after Abort: phase %s, verdict %q, abort reason %q; want %s, %q, %q",
					st.Phase, st.Verdict, reason, tc.wantPhase, tc.wantVerdict, tc.wantReason)
			}
		})
	}
}

// TestInjectedAfterRevert: the revert of an aborted run leaves Injected
// True only when the fault reached a target, including one the controller
// injected before the engine recorded the injection.
func TestInjectedAfterRevert(t *testing.T) {
	now := t0.Add(time.Minute)
	target := func(phase chaosv1alpha1.TargetPhase, injectedAt *metav1.MicroTime) []chaosv1alpha1.TargetStatus {
		return []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "checkout-a",
			Phase: phase, InjectedAt: injectedAt}}
	}
	tests := map[string]struct {
		targets []chaosv1alpha1.TargetStatus
		want    string
	}{
		"aborted while injecting, after the target took the fault: Injected stays True": {
			targets: target(chaosv1alpha1.TargetReverted, micro(now.Add(-sec))),
			want:    "True/FaultReverted",
		},
		"aborted while injecting, before any target took the fault: nothing was injected": {
			targets: target(chaosv1alpha1.TargetSelected, nil),
			want:    "False/NotInjected",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseInjecting, Targets: tc.targets,
				Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0), BaselineVerifiedAt: micro(t0.Add(3 * sec))}}
			run := engine.Run{Spec: istio(30 * sec), Status: st}
			run.Abort(now, chaosv1alpha1.AbortKillSwitch, "ChaosPolicy default is paused")
			run.ApplyReverted(now)
			if st.Phase != chaosv1alpha1.PhaseCompleted || st.Verdict != chaosv1alpha1.VerdictAborted {
				t.Fatalf("after the revert: phase %s, verdict %q; want Completed, Aborted", st.Phase, st.Verdict)
			}
			c := findCondition(st, chaosv1alpha1.ConditionInjected)
			if c == nil || string(c.Status)+"/"+c.Reason != tc.want {
				t.Errorf("Injected condition = %+v, want %s", c, tc.want)
			}
		})
	}
}
