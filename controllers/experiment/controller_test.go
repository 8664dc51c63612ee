package experiment_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

func TestADueTimeCreatesOneRunNamedFromTheTime(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", nil)
	due := firstDue(exp)

	e.clock.SetTime(due.Add(-schedule.StageAhead - time.Second))
	res := e.mustReconcile(exp)
	if runs := e.runNames(); len(runs) != 0 {
		t.Fatalf("runs before the due time: %v", runs)
	}
	if want := time.Second; res.RequeueAfter != want {
		t.Errorf("before the due time, RequeueAfter = %s, want %s (until the run is staged)", res.RequeueAfter, want)
	}
	if got := e.get(exp); !same(got.Status.NextScheduleTime, due) {
		t.Errorf("nextScheduleTime = %s, want %s", at(got.Status.NextScheduleTime), due)
	}

	e.clock.SetTime(due.Add(2 * time.Second))
	res = e.mustReconcile(exp)

	want := schedule.RunName(exp.Name, due)
	runs := e.runs()
	if len(runs) != 1 || runs[0].Name != want {
		t.Fatalf("runs = %v, want exactly %s", e.runNames(), want)
	}
	run := runs[0]
	if run.Spec.ExperimentRef.Name != exp.Name {
		t.Errorf("run spec.experimentRef.name = %q, want %q", run.Spec.ExperimentRef.Name, exp.Name)
	}
	if got := run.Labels[chaosv1alpha1.ExperimentLabel]; got != exp.Name {
		t.Errorf("run label %s = %q, want %q", chaosv1alpha1.ExperimentLabel, got, exp.Name)
	}
	if got := run.Annotations[experiment.ScheduledAtAnnotation]; got != due.Format(time.RFC3339) {
		t.Errorf("run annotation %s = %q, want %q", experiment.ScheduledAtAnnotation, got, due.Format(time.RFC3339))
	}
	if owner := metav1.GetControllerOf(&run); owner == nil || owner.UID != exp.UID || owner.Kind != "Experiment" {
		t.Errorf("run controller owner = %+v, want the Experiment (uid %s)", owner, exp.UID)
	}

	got := e.get(exp)
	if !same(got.Status.LastScheduleTime, due) || !same(got.Status.NextScheduleTime, due.Add(10*time.Minute)) {
		t.Errorf("status: %s; want lastScheduleTime %s and nextScheduleTime %s", describe(got), due, due.Add(10*time.Minute))
	}
	if !slices.Equal(got.Status.Active, []string{want}) {
		t.Errorf("status.active = %v, want [%s]", got.Status.Active, want)
	}
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonScheduled || !strings.Contains(c.Message, want) {
		t.Errorf("Ready = %+v, want True, Scheduled, naming %s", c, want)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration = %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}
	if wantWait := 10*time.Minute - 2*time.Second - schedule.StageAhead; res.RequeueAfter != wantWait {
		t.Errorf("RequeueAfter = %s, want %s (when the next run is staged)", res.RequeueAfter, wantWait)
	}
	evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled)
	if len(evs) != 1 || !strings.Contains(evs[0], want) || !strings.Contains(evs[0], due.Format(time.RFC3339)) {
		t.Errorf("Scheduled events = %q, want one naming %s and %s", evs, want, due.Format(time.RFC3339))
	}
}

func TestReconcilingTwiceCreatesItOnce(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", nil)
	due := firstDue(exp)
	e.clock.SetTime(due.Add(2 * time.Second))

	e.mustReconcile(exp)
	e.mustReconcile(exp)

	// A restarted operator whose status write was lost: lastScheduleTime
	// says nothing was scheduled, yet the run exists.
	live := e.get(exp)
	live.Status.LastScheduleTime = nil
	if err := apiClient.Status().Update(t.Context(), live); err != nil {
		t.Fatalf("clearing lastScheduleTime: %v", err)
	}
	e.restart()
	e.clock.SetTime(due.Add(5 * time.Second))
	e.mustReconcile(exp)

	if runs := e.runNames(); !slices.Equal(runs, []string{schedule.RunName(exp.Name, due)}) {
		t.Fatalf("runs = %v, want only %s", runs, schedule.RunName(exp.Name, due))
	}
	if got := e.get(exp); !same(got.Status.LastScheduleTime, due) {
		t.Errorf("lastScheduleTime = %s after the restart, want %s again", at(got.Status.LastScheduleTime), due)
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled); len(evs) != 1 {
		t.Errorf("Scheduled events = %q, want exactly one", evs)
	}
}

func TestForbidSkipsWhileARunIsActive(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", nil) // concurrencyPolicy defaults to Forbid
	due := firstDue(exp)
	first := schedule.RunName(exp.Name, due)
	e.clock.SetTime(due.Add(time.Second))
	e.mustReconcile(exp)
	e.setPhase(first, chaosv1alpha1.PhaseObserving)
	e.takeEvents()

	second := due.Add(10 * time.Minute)
	e.clock.SetTime(second.Add(time.Second))
	e.mustReconcile(exp)
	e.mustReconcile(exp) // the skip is announced once

	if runs := e.runNames(); !slices.Equal(runs, []string{first}) {
		t.Fatalf("runs = %v, want only the active %s", runs, first)
	}
	got := e.get(exp)
	if !same(got.Status.LastScheduleTime, second) {
		t.Errorf("lastScheduleTime = %s, want the skipped %s, so it is not retried", at(got.Status.LastScheduleTime), second)
	}
	c := condition(t, got, chaosv1alpha1.ConditionReady)
	if c.Reason != chaosv1alpha1.ReasonConcurrencyForbid || !strings.Contains(c.Message, first) || !strings.Contains(c.Message, second.Format(time.RFC3339)) {
		t.Errorf("Ready = %+v, want reason ConcurrencyForbid naming %s and %s", c, first, second.Format(time.RFC3339))
	}
	evs := e.takeEvents()
	if skipped := eventsWith(evs, "Normal", chaosv1alpha1.ReasonSkipped); len(skipped) != 1 || !strings.Contains(skipped[0], "Forbid") {
		t.Errorf("Skipped events = %q, want one saying Forbid; all events %q", skipped, evs)
	}

	// Once the run has finished, the next time starts a run again.
	e.finish(first, chaosv1alpha1.VerdictPassed, due, due.Add(time.Minute), 30*time.Second)
	third := second.Add(10 * time.Minute)
	e.clock.SetTime(third.Add(time.Second))
	e.mustReconcile(exp)
	if runs := e.runNames(); !slices.Contains(runs, schedule.RunName(exp.Name, third)) {
		t.Errorf("runs = %v, want a run for %s after the active one finished", runs, third)
	}
}

func TestReplaceAnnotatesTheActiveRunForAbortAndCreatesTheNewOne(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) {
		s.ConcurrencyPolicy = chaosv1alpha1.ReplaceConcurrent
	})
	due := firstDue(exp)
	first := schedule.RunName(exp.Name, due)
	e.clock.SetTime(due.Add(time.Second))
	e.mustReconcile(exp)
	e.setPhase(first, chaosv1alpha1.PhaseObserving)

	second := due.Add(10 * time.Minute)
	e.clock.SetTime(second.Add(time.Second))
	e.mustReconcile(exp)

	newRun := schedule.RunName(exp.Name, second)
	runs := e.runs()
	if names := e.runNames(); !slices.Equal(names, []string{first, newRun}) {
		t.Fatalf("runs = %v, want the old %s and the new %s", names, first, newRun)
	}
	if got := runs[0].Annotations[chaosv1alpha1.AbortAnnotation]; got != string(chaosv1alpha1.AbortReplaced) {
		t.Errorf("old run annotation %s = %q, want %q", chaosv1alpha1.AbortAnnotation, got, chaosv1alpha1.AbortReplaced)
	}
	if _, ok := runs[1].Annotations[chaosv1alpha1.AbortAnnotation]; ok {
		t.Errorf("the new run is asked to abort too: %v", runs[1].Annotations)
	}
	evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled)
	if len(evs) != 2 || !strings.Contains(evs[1], newRun) || !strings.Contains(evs[1], first) {
		t.Errorf("Scheduled events = %q, want the second to name %s and the replaced %s", evs, newRun, first)
	}
}

func TestSuspendCreatesNothing(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.Suspend = true })
	due := firstDue(exp)
	e.clock.SetTime(due.Add(2 * time.Second))
	res := e.mustReconcile(exp)

	if runs := e.runNames(); len(runs) != 0 {
		t.Fatalf("a suspended experiment created runs %v", runs)
	}
	got := e.get(exp)
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonSuspended {
		t.Errorf("Ready = %+v, want True, Suspended", c)
	}
	if got.Status.NextScheduleTime != nil || res.RequeueAfter != 0 {
		t.Errorf("nextScheduleTime %s and RequeueAfter %s while suspended, want none", at(got.Status.NextScheduleTime), res.RequeueAfter)
	}

	// Resuming does not start a run at once for the time passed while suspended.
	e.editSpec(exp, func(s *chaosv1alpha1.ExperimentSpec) { s.Suspend = false })
	e.clock.SetTime(due.Add(5 * time.Second))
	e.mustReconcile(exp)
	if runs := e.runNames(); len(runs) != 0 {
		t.Errorf("resuming started runs %v for a time passed while suspended", runs)
	}
	if got := e.get(exp); !same(got.Status.NextScheduleTime, due.Add(10*time.Minute)) {
		t.Errorf("after resuming, nextScheduleTime = %s, want %s", at(got.Status.NextScheduleTime), due.Add(10*time.Minute))
	}
}

func TestInvalidTimeZoneStallsWithAMessage(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.TimeZone = ptr.To("Mars/Olympus_Mons") })
	e.clock.SetTime(firstDue(exp).Add(time.Second))

	res, err := e.reconcile(exp)
	if !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile error = %v, want a terminal error", err)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("RequeueAfter = %s, want none: only an edit can fix the spec", res.RequeueAfter)
	}
	if _, err := e.reconcile(exp); err == nil {
		t.Fatalf("second reconcile succeeded on an invalid spec")
	}

	got := e.get(exp)
	stalled := condition(t, got, chaosv1alpha1.ConditionStalled)
	if stalled.Status != metav1.ConditionTrue || stalled.Reason != chaosv1alpha1.ReasonInvalidSpec || !strings.Contains(stalled.Message, `spec.timeZone: Invalid value: "Mars/Olympus_Mons": unknown time zone`) {
		t.Errorf("Stalled = %+v, want True, InvalidSpec, with the parser's message", stalled)
	}
	if ready := condition(t, got, chaosv1alpha1.ConditionReady); ready.Status != metav1.ConditionFalse || ready.Reason != chaosv1alpha1.ReasonInvalidSpec {
		t.Errorf("Ready = %+v, want False, InvalidSpec", ready)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration = %d, want %d: the invalid generation was observed", got.Status.ObservedGeneration, got.Generation)
	}
	if runs := e.runNames(); len(runs) != 0 {
		t.Errorf("runs = %v, want none", runs)
	}
	if evs := eventsWith(e.takeEvents(), "Warning", chaosv1alpha1.ReasonInvalidSpec); len(evs) != 1 || !strings.Contains(evs[0], "Mars/Olympus_Mons") {
		t.Errorf("InvalidSpec events = %q, want one naming the zone", evs)
	}

	// Fixing the zone lifts the stall.
	e.editSpec(exp, func(s *chaosv1alpha1.ExperimentSpec) { s.TimeZone = ptr.To("Asia/Seoul") })
	e.mustReconcile(exp)
	got = e.get(exp)
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("after the fix, Ready = %+v, want True", c)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == chaosv1alpha1.ConditionStalled {
			t.Errorf("after the fix, Stalled is still there: %+v", c)
		}
	}
}

func TestMissedBeyondTheDeadlineEmitsMissedScheduleAndCreatesNothing(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.StartingDeadlineSeconds = ptr.To[int64](60) })
	due := firstDue(exp)
	e.clock.SetTime(due.Add(5 * time.Minute)) // the operator was away
	e.mustReconcile(exp)
	e.mustReconcile(exp)

	if runs := e.runNames(); len(runs) != 0 {
		t.Fatalf("runs = %v, want none: the deadline passed", runs)
	}
	got := e.get(exp)
	if !same(got.Status.LastScheduleTime, due) {
		t.Errorf("lastScheduleTime = %s, want the missed %s", at(got.Status.LastScheduleTime), due)
	}
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Reason != chaosv1alpha1.ReasonMissedSchedule {
		t.Errorf("Ready = %+v, want reason MissedSchedule", c)
	}
	if evs := eventsWith(e.takeEvents(), "Warning", chaosv1alpha1.ReasonMissedSchedule); len(evs) != 1 || !strings.Contains(evs[0], due.Format(time.RFC3339)) {
		t.Errorf("MissedSchedule events = %q, want one naming %s", evs, due.Format(time.RFC3339))
	}
}

func TestTooManyMissedWarnsAndStartsOnlyTheMostRecent(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.Schedule = "@every 1m" })
	created := exp.CreationTimestamp.Time
	e.clock.SetTime(created.Add(200*time.Minute + 30*time.Second))
	e.mustReconcile(exp)

	if runs := e.runNames(); !slices.Equal(runs, []string{schedule.RunName(exp.Name, created.Add(200*time.Minute))}) {
		t.Errorf("runs = %v, want only the most recent time's", runs)
	}
	evs := eventsWith(e.takeEvents(), "Warning", chaosv1alpha1.ReasonMissedSchedule)
	if len(evs) != 1 || !strings.Contains(evs[0], "more than 100") {
		t.Errorf("MissedSchedule warnings = %q, want one saying more than 100 were missed", evs)
	}
}

func TestOutsideTheWindowsHoldsTheRunUntilOneOpens(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) {
		s.Schedule = "0 9 * * *"
		s.Windows = []chaosv1alpha1.TimeWindow{{Start: "10:00", End: "16:00"}}
	})
	due := exp.CreationTimestamp.UTC().Truncate(24 * time.Hour).Add(33 * time.Hour) // 09:00 tomorrow
	opens := due.Add(time.Hour)

	e.clock.SetTime(due.Add(2 * time.Second))
	res := e.mustReconcile(exp)
	e.clock.SetTime(due.Add(30 * time.Minute))
	e.mustReconcile(exp)

	if runs := e.runNames(); len(runs) != 0 {
		t.Fatalf("runs = %v outside the windows, want none", runs)
	}
	if want := time.Hour - 2*time.Second + schedule.RequeueSlack; res.RequeueAfter != want {
		t.Errorf("RequeueAfter = %s, want %s (when the window opens)", res.RequeueAfter, want)
	}
	got := e.get(exp)
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Reason != chaosv1alpha1.ReasonOutsideWindow {
		t.Errorf("Ready = %+v, want reason OutsideWindow", c)
	}
	if got.Status.LastScheduleTime != nil {
		t.Errorf("lastScheduleTime = %s, want none: a held run is still due", at(got.Status.LastScheduleTime))
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonOutsideWindow); len(evs) != 1 {
		t.Errorf("OutsideWindow events = %q, want one for the hold", evs)
	}

	e.clock.SetTime(opens.Add(time.Second))
	e.mustReconcile(exp)
	if runs := e.runNames(); !slices.Equal(runs, []string{schedule.RunName(exp.Name, due)}) {
		t.Errorf("runs = %v when the window opened, want the held run for %s", runs, due)
	}
}

func TestHistoryIsPrunedToRunHistoryLimit(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) {
		s.Schedule = ""
		s.RunHistoryLimit = ptr.To[int32](3)
	})
	// Made with kubectl: no label, no owner. Created within a second, they
	// are told apart by name.
	e.createRun("r0-active", exp.Name)
	start := time.Date(2026, time.March, 1, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"r1", "r2", "r3", "r4", "r5"} {
		e.createRun(name, exp.Name)
		begin := start.Add(time.Duration(i) * time.Hour)
		e.finish(name, chaosv1alpha1.VerdictPassed, begin, begin.Add(time.Minute), 20*time.Second)
	}
	e.createRun("other", "another-experiment")
	e.finish("other", chaosv1alpha1.VerdictPassed, start, start.Add(time.Minute), time.Second)
	e.clock.SetTime(start.Add(24 * time.Hour))
	e.mustReconcile(exp)

	if runs := e.runNames(); !slices.Equal(runs, []string{"other", "r0-active", "r3", "r4", "r5"}) {
		t.Errorf("runs = %v, want the newest 3 finished, the active one, and the other experiment's", runs)
	}
	got := e.get(exp)
	if !slices.Equal(got.Status.Active, []string{"r0-active"}) {
		t.Errorf("status.active = %v, want the kubectl-created [r0-active]", got.Status.Active)
	}
	var recent []string
	for _, s := range got.Status.Recent {
		recent = append(recent, s.Name)
	}
	if !slices.Equal(recent, []string{"r5", "r4", "r3", "r2", "r1"}) {
		t.Errorf("status.recent = %v, want every finished run, pruned ones included, newest first", recent)
	}
}

func TestRunNowTokenCreatesExactlyOneRunPerNewToken(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.Schedule = "" })
	e.clock.SetTime(exp.CreationTimestamp.Add(time.Minute))

	e.annotate(exp, chaosv1alpha1.RunNowAnnotation, "deploy-41")
	e.mustReconcile(exp)
	e.mustReconcile(exp)
	first := experiment.RunNowName(exp.Name, "deploy-41")
	if runs := e.runNames(); !slices.Equal(runs, []string{first}) {
		t.Fatalf("runs = %v, want exactly %s", runs, first)
	}
	if got := e.get(exp).Annotations[experiment.RunNowHandledAnnotation]; got != "deploy-41" {
		t.Errorf("%s = %q, want deploy-41", experiment.RunNowHandledAnnotation, got)
	}

	e.annotate(exp, chaosv1alpha1.RunNowAnnotation, "deploy-42")
	e.mustReconcile(exp)
	second := experiment.RunNowName(exp.Name, "deploy-42")
	if runs := e.runNames(); len(runs) != 2 || !slices.Contains(runs, second) {
		t.Fatalf("runs = %v, want %s added", runs, second)
	}

	// The operator created the run for a token and crashed before marking
	// it handled: the next reconcile finds the run and only marks.
	third := experiment.RunNowName(exp.Name, "deploy-43")
	e.createRun(third, exp.Name)
	e.annotate(exp, chaosv1alpha1.RunNowAnnotation, "deploy-43")
	e.restart()
	e.mustReconcile(exp)
	if runs := e.runNames(); len(runs) != 3 {
		t.Errorf("runs = %v, want 3: the crashed token's run is not created twice", runs)
	}
	got := e.get(exp)
	if handled := got.Annotations[experiment.RunNowHandledAnnotation]; handled != "deploy-43" {
		t.Errorf("%s = %q, want deploy-43", experiment.RunNowHandledAnnotation, handled)
	}
	if c := condition(t, got, chaosv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonReconciled {
		t.Errorf("Ready = %+v, want True, Reconciled (on demand only)", c)
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled); len(evs) != 2 {
		t.Errorf("Scheduled events = %q, want two: one per run this controller created", evs)
	}
}

func TestStatusShowsRecentFromFinishedRuns(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", func(s *chaosv1alpha1.ExperimentSpec) { s.Schedule = "" })
	start := time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	e.createRun("monday", exp.Name)
	e.finish("monday", chaosv1alpha1.VerdictPassed, start, start.Add(2*time.Minute), 40*time.Second)
	e.createRun("tuesday", exp.Name)
	e.finish("tuesday", chaosv1alpha1.VerdictFailed, start.Add(24*time.Hour), start.Add(24*time.Hour+5*time.Minute), 3*time.Minute)
	e.createRun("wednesday", exp.Name)
	e.setPhase("wednesday", chaosv1alpha1.PhaseObserving)
	e.clock.SetTime(start.Add(48 * time.Hour))
	e.mustReconcile(exp)

	got := e.get(exp)
	if len(got.Status.Recent) == 0 {
		t.Fatalf("recent = %+v, want the finished runs", got.Status.Recent)
	}
	last := got.Status.Recent[0]
	if last.Name != "tuesday" || last.Verdict != chaosv1alpha1.VerdictFailed ||
		last.TimeToRecover == nil || last.TimeToRecover.Duration != 3*time.Minute ||
		!same(last.FinishedAt, start.Add(24*time.Hour+5*time.Minute)) {
		t.Errorf("recent[0] = %+v, want tuesday, Failed, recovered in 3m, finished %s", last, start.Add(24*time.Hour+5*time.Minute))
	}
	if len(got.Status.Recent) != 2 || got.Status.Recent[0].Name != "tuesday" || got.Status.Recent[1].Name != "monday" ||
		got.Status.Recent[1].TimeToDetect == nil || got.Status.Recent[1].TimeToDetect.Duration != 4*time.Second {
		t.Errorf("recent = %+v, want tuesday then monday with their figures", got.Status.Recent)
	}
	if !slices.Equal(got.Status.Active, []string{"wednesday"}) {
		t.Errorf("active = %v, want [wednesday]", got.Status.Active)
	}

	// A second reconcile with nothing new writes nothing.
	before := got.ResourceVersion
	e.mustReconcile(exp)
	if after := e.get(exp).ResourceVersion; after != before {
		t.Errorf("a reconcile with nothing new wrote the Experiment (resourceVersion %s -> %s)", before, after)
	}
}

// TestADueTimeWritesOnlyTheRun shows what firing costs at the due instant:
// the run's creation and nothing else. Recording it (status, Event) is the
// next reconcile's, which the run's creation triggers.
func TestADueTimeWritesOnlyTheRun(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", nil)
	due := firstDue(exp)
	// Too early to stage the run: this is the path of a run created at its time.
	e.clock.SetTime(due.Add(-schedule.StageAhead - time.Second))
	e.mustReconcile(exp)
	e.takeEvents()
	planned := e.get(exp)

	e.clock.SetTime(due)
	if _, err := e.reconcile(exp); err != nil {
		t.Fatalf("reconcile at the due time: %v", err)
	}
	want := schedule.RunName(exp.Name, due)
	if runs := e.runNames(); !slices.Equal(runs, []string{want}) {
		t.Fatalf("runs = %v, want %s", runs, want)
	}
	if got := e.get(exp); got.ResourceVersion != planned.ResourceVersion {
		t.Errorf("the due reconcile wrote the Experiment (%s -> %s): %s", planned.ResourceVersion, got.ResourceVersion, describe(got))
	}
	if evs := e.takeEvents(); len(evs) != 0 {
		t.Errorf("events at the due instant = %q, want none yet", evs)
	}

	if _, err := e.reconcile(exp); err != nil {
		t.Fatalf("reconcile after the run's creation: %v", err)
	}
	got := e.get(exp)
	if !same(got.Status.LastScheduleTime, due) || !slices.Equal(got.Status.Active, []string{want}) {
		t.Errorf("after the follow-up: %s; want lastScheduleTime %s and active [%s]", describe(got), due, want)
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled); len(evs) != 1 || !strings.Contains(evs[0], want) {
		t.Errorf("Scheduled events = %q, want one naming %s", evs, want)
	}
}

// TestARunIsStagedAheadAndRecordedAtItsTime shows staging: within
// StageAhead of its time the run is created, annotated with that time, and
// nothing else is written; at the time, the Experiment records it once.
func TestARunIsStagedAheadAndRecordedAtItsTime(t *testing.T) {
	e := newEnv(t)
	exp := e.createExperiment("checkout", nil)
	due := firstDue(exp)
	want := schedule.RunName(exp.Name, due)

	e.clock.SetTime(due.Add(-5 * time.Second))
	res := e.mustReconcile(exp)
	runs := e.runs()
	if len(runs) != 1 || runs[0].Name != want {
		t.Fatalf("runs 5s before the due time = %v, want the staged %s", e.runNames(), want)
	}
	if got := runs[0].Annotations[experiment.ScheduledAtAnnotation]; got != due.Format(time.RFC3339) {
		t.Errorf("staged run's %s = %q, want %q", experiment.ScheduledAtAnnotation, got, due.Format(time.RFC3339))
	}
	if got := e.get(exp); got.Status.LastScheduleTime != nil {
		t.Errorf("lastScheduleTime = %s before the due time, want none", at(got.Status.LastScheduleTime))
	}
	if wantWait := 5*time.Second + schedule.RequeueSlack; res.RequeueAfter != wantWait {
		t.Errorf("RequeueAfter = %s, want %s (the due time, with slack)", res.RequeueAfter, wantWait)
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled); len(evs) != 0 {
		t.Errorf("Scheduled events before the due time = %q, want none", evs)
	}

	e.clock.SetTime(due.Add(time.Second))
	e.mustReconcile(exp)
	e.mustReconcile(exp)
	if runs := e.runNames(); !slices.Equal(runs, []string{want}) {
		t.Fatalf("runs = %v, want only %s", runs, want)
	}
	got := e.get(exp)
	if !same(got.Status.LastScheduleTime, due) || !slices.Equal(got.Status.Active, []string{want}) {
		t.Errorf("status: %s; want lastScheduleTime %s and active [%s]", describe(got), due, want)
	}
	if evs := eventsWith(e.takeEvents(), "Normal", chaosv1alpha1.ReasonScheduled); len(evs) != 1 || !strings.Contains(evs[0], want) {
		t.Errorf("Scheduled events = %q, want one naming %s", evs, want)
	}
}

// TestAStagedRunNoLongerWantedIsDeleted: suspending the Experiment, or the
// kill switch engaged by its time, removes a staged run that has not
// started; no run of that time remains.
func TestAStagedRunNoLongerWantedIsDeleted(t *testing.T) {
	tests := map[string]func(e *env, exp *chaosv1alpha1.Experiment){
		"suspended": func(e *env, exp *chaosv1alpha1.Experiment) {
			live := e.get(exp)
			live.Spec.Suspend = true
			if err := apiClient.Update(e.t.Context(), live); err != nil {
				e.t.Fatal(err)
			}
		},
		"the kill switch engaged": func(e *env, _ *chaosv1alpha1.Experiment) {
			e.pause()
		},
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			exp := e.createExperiment("checkout", nil)
			due := firstDue(exp)
			e.clock.SetTime(due.Add(-5 * time.Second))
			e.mustReconcile(exp)
			if runs := e.runNames(); len(runs) != 1 {
				t.Fatalf("runs = %v, want one staged", runs)
			}
			change(e, exp)
			// The change wakes the Experiment (its watch), then its time comes.
			e.clock.SetTime(due.Add(-4 * time.Second))
			e.mustReconcile(exp)
			e.clock.SetTime(due.Add(time.Second))
			e.mustReconcile(exp)
			e.mustReconcile(exp)
			if runs := e.runs(); len(runs) != 0 && runs[0].DeletionTimestamp.IsZero() {
				t.Errorf("runs = %v, want the staged run deleted", e.runNames())
			}
		})
	}
}
