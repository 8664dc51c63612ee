package experiment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/schedule"
	"github.com/faultline-dev/faultline/internal/stored"
)

// reconcileRuns lists the Experiment's runs and reports them in status.
func (r *Reconciler) reconcileRuns(ctx context.Context, s *scope) (ctrl.Result, error) {
	// Runs that do not decode are left out of the history: the run
	// controller reports them on themselves, and a human fixes or deletes
	// them (they are never pruned). maxConcurrentRuns still counts them.
	runs, _, err := stored.ListRuns(ctx, r.runs(), client.InNamespace(s.exp.Namespace), client.MatchingFields{ExperimentRefIndex: s.exp.Name})
	if err != nil {
		return ctrl.Result{}, err
	}
	s.runs = runs
	setRunStatus(&s.exp.Status, s.runs)
	return ctrl.Result{}, nil
}

// reconcileHistory deletes the finished runs beyond runHistoryLimit, oldest
// first. Their summaries stay in status.recent.
func (r *Reconciler) reconcileHistory(ctx context.Context, s *scope) (ctrl.Result, error) {
	for _, run := range runsToPrune(s.runs, historyLimit(&s.exp.Spec)) {
		// The UID precondition keeps a run recreated under the same name
		// (a reused run-now token) from being deleted by mistake.
		err := r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("pruning run %s: %w", run.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("pruned run beyond runHistoryLimit", "run", klog.KObj(run))
	}
	return ctrl.Result{}, nil
}

// reconcileRunNow starts one run for each new value of the run-now
// annotation. It ignores suspend and the concurrency policy, as creating a
// Job from a CronJob by hand does: someone asked for this run. The
// ChaosPolicy still applies, in the run controller.
func (r *Reconciler) reconcileRunNow(ctx context.Context, s *scope) (ctrl.Result, error) {
	token, ok := pendingRunNow(s.exp.Annotations)
	if !ok {
		return ctrl.Result{}, nil
	}
	name := RunNowName(s.exp.Name, token)
	if !s.hasRun(name) {
		// The token tells the admission webhook which run-now request this
		// run answers, so it records the user who set it as the requester.
		created, err := r.createRun(ctx, s, name, map[string]string{chaosv1alpha1.RunNowAnnotation: token})
		if err != nil {
			return ctrl.Result{}, err
		}
		if created {
			r.event(s.exp, corev1.EventTypeNormal, chaosv1alpha1.ReasonScheduled, "CreateRun",
				fmt.Sprintf("created run %s on demand (%s=%s)", name, chaosv1alpha1.RunNowAnnotation, token))
		}
	}
	return ctrl.Result{}, r.markRunNowHandled(ctx, s, token)
}

// markRunNowHandled records token as acted on. The run is created first: a
// crash in between makes the next reconcile find it by name and only mark.
func (r *Reconciler) markRunNowHandled(ctx context.Context, s *scope, token string) error {
	original := s.exp.DeepCopy()
	marked := s.exp.DeepCopy()
	metav1.SetMetaDataAnnotation(&marked.ObjectMeta, RunNowHandledAnnotation, token)
	// With the resourceVersion read: a stale Experiment may hide a newer
	// token, which must not be marked handled without its run.
	err := r.Client.Patch(ctx, marked, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return errNewerVersion
	}
	if err != nil {
		return fmt.Errorf("recording run-now token as handled: %w", err)
	}
	// The status patch that follows must carry the new resourceVersion.
	for _, e := range []*chaosv1alpha1.Experiment{s.exp, s.base()} {
		e.ResourceVersion = marked.ResourceVersion
		metav1.SetMetaDataAnnotation(&e.ObjectMeta, RunNowHandledAnnotation, token)
	}
	return nil
}

// reconcileSpec checks what the API server's validation cannot: that the
// schedule parses, the time zone exists and the windows read. Only an edit
// fixes them, so the error is terminal and the Experiment Stalled.
func (r *Reconciler) reconcileSpec(_ context.Context, s *scope) (ctrl.Result, error) {
	if err := validateSpec(&s.exp.Spec); err != nil {
		s.exp.Status.NextScheduleTime = nil
		setStalled(s.exp, chaosv1alpha1.ReasonInvalidSpec, err.Error(), s.now)
		if conditionChanged(s.base().Status.Conditions, s.exp.Status.Conditions, chaosv1alpha1.ConditionStalled) {
			s.onWrite(corev1.EventTypeWarning, chaosv1alpha1.ReasonInvalidSpec, "Validate", err.Error())
		}
		// The generation was looked at and found wanting: that is observed.
		s.observed = true
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	clearStalled(s.exp)
	return ctrl.Result{}, nil
}

// validateSpec returns what is wrong with the spec's schedule, time zone
// and windows, by the rule admission refuses by, joined.
func validateSpec(spec *chaosv1alpha1.ExperimentSpec) error {
	if errs := schedule.ValidateSpec(spec, field.NewPath("spec")); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// The Ready condition of a scheduled Experiment says what the scheduler last
// decided, in one of these reasons; status.nextScheduleTime says what comes next.
var scheduleOutcomes = []string{chaosv1alpha1.ReasonScheduled, chaosv1alpha1.ReasonConcurrencyForbid, chaosv1alpha1.ReasonMissedSchedule}

// reconcileSchedule starts, skips or holds the run the schedule asks for now.
func (r *Reconciler) reconcileSchedule(ctx context.Context, s *scope) (ctrl.Result, error) {
	exp := s.exp
	if exp.Spec.Schedule == "" {
		if err := r.dropStaged(ctx, s, time.Time{}); err != nil {
			return ctrl.Result{}, err
		}
		exp.Status.NextScheduleTime = nil
		setReady(exp, chaosv1alpha1.ReasonReconciled, fmt.Sprintf("no schedule: runs start on demand (annotate the experiment with %s=<token>)", chaosv1alpha1.RunNowAnnotation), s.now)
		return ctrl.Result{}, nil
	}
	in := schedule.PlanInput{
		Schedule:                exp.Spec.Schedule,
		TimeZone:                exp.Spec.TimeZone,
		CreationTime:            exp.CreationTimestamp.Time,
		StartingDeadlineSeconds: exp.Spec.StartingDeadlineSeconds,
	}
	if exp.Status.LastScheduleTime != nil {
		in.LastScheduleTime = &exp.Status.LastScheduleTime.Time
	}
	plan, err := schedule.Plan(in, s.now)
	if err != nil {
		return ctrl.Result{}, reconcile.TerminalError(err) // reconcileSpec parsed it already
	}

	keep := plan.Next
	if exp.Spec.Suspend {
		keep = time.Time{}
	}
	if err := r.dropStaged(ctx, s, keep); err != nil {
		return ctrl.Result{}, err
	}
	if exp.Spec.Suspend {
		// Times that pass while suspended are not owed: resuming does not
		// start a run at once for a time the user chose to skip (a CronJob
		// would, within its deadline).
		if due := firstSet(plan.ScheduledTime, plan.SkippedTime); due != nil {
			exp.Status.LastScheduleTime = timeOrNil(*due)
		}
		exp.Status.NextScheduleTime = nil
		setReady(exp, chaosv1alpha1.ReasonSuspended, "suspended: no scheduled run starts while spec.suspend is true", s.now)
		return ctrl.Result{}, nil
	}

	exp.Status.NextScheduleTime = timeOrNil(plan.Next)
	res := ctrl.Result{RequeueAfter: plan.RequeueAfter}
	switch {
	case plan.TooLate:
		r.recordMissed(s, plan)
	case plan.ScheduledTime != nil:
		wait, err := r.startScheduled(ctx, s, plan)
		if err != nil {
			return ctrl.Result{}, err
		}
		res.RequeueAfter = earliest(res.RequeueAfter, wait)
	default:
		if c := readyReason(exp); !slices.Contains(scheduleOutcomes, c) {
			setReady(exp, chaosv1alpha1.ReasonScheduled, "waiting for the next schedule time", s.now)
		}
	}
	wait, err := r.stage(ctx, s, plan.Next)
	if err != nil {
		return ctrl.Result{}, err
	}
	res.RequeueAfter = earliest(res.RequeueAfter, wait)
	return res, nil
}

// stage creates the run for the schedule time next ahead of it, once next
// is at most schedule.StageAhead away; the run controller holds it until
// next. It returns when to come back to stage. A run is staged only when it
// would start if next were now (no other run active, the ChaosPolicy lets
// it): otherwise the reconcile at next decides as usual.
func (r *Reconciler) stage(ctx context.Context, s *scope, next time.Time) (time.Duration, error) {
	if next.IsZero() || !next.After(s.now) {
		return 0, nil
	}
	if until := next.Sub(s.now); until > schedule.StageAhead {
		return until - schedule.StageAhead, nil
	}
	exp := s.exp
	name := schedule.RunName(exp.Name, next)
	if s.hasRun(name) || len(s.activeExcept(name)) > 0 {
		return 0, nil
	}
	p, err := chaospolicy.Get(ctx, r.experiments())
	if err != nil {
		return 0, err
	}
	if d := policy.Decide(policy.Input{Spec: &exp.Spec, Policy: p, Now: next, Scheduled: true}); d.Outcome != policy.Start {
		return 0, nil
	}
	if _, err := r.createRun(ctx, s, name, map[string]string{ScheduledAtAnnotation: next.UTC().Format(time.RFC3339)}); err != nil {
		return 0, err
	}
	return 0, nil
}

// dropStaged deletes the Experiment's staged runs that have not started and
// are no longer wanted: the schedule changed or was removed, or the
// Experiment was suspended. keep is the schedule time still wanted, if any.
func (r *Reconciler) dropStaged(ctx context.Context, s *scope, keep time.Time) error {
	for i := range s.runs {
		run := &s.runs[i]
		at, waiting := schedule.StagedUntil(run.Annotations, s.now)
		if !waiting || run.Status.Experiment != nil || at.Equal(keep) || !run.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.deleteUnstarted(ctx, run); err != nil {
			return err
		}
	}
	return nil
}

// deleteUnstarted deletes run, which has not started, by its UID.
func (r *Reconciler) deleteUnstarted(ctx context.Context, run *chaosv1alpha1.ExperimentRun) error {
	err := r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID})
	if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting staged run %s: %w", run.Name, err)
	}
	ctrl.LoggerFrom(ctx).V(1).Info("deleted a staged run that is no longer wanted", "run", klog.KObj(run))
	return nil
}

// startScheduled creates the run for plan.ScheduledTime, unless a gate holds
// it or the concurrency policy skips it. It returns when to look again
// for a held run.
func (r *Reconciler) startScheduled(ctx context.Context, s *scope, plan schedule.PlanResult) (time.Duration, error) {
	exp := s.exp
	at := *plan.ScheduledTime
	name := schedule.RunName(exp.Name, at)
	when := at.UTC().Format(time.RFC3339)
	if staged := s.run(name); staged != nil && staged.Status.Timeline.StartedAt == nil && staged.Annotations[ScheduledAtAnnotation] == when {
		// Staged ahead and not started: it starts only if it still may.
		d, err := r.startGate(ctx, s)
		if err != nil {
			return 0, err
		}
		if d.Outcome != policy.Start {
			if err := r.deleteUnstarted(ctx, staged); err != nil {
				return 0, err
			}
			s.runs = slices.DeleteFunc(s.runs, func(r chaosv1alpha1.ExperimentRun) bool { return r.Name == name })
		}
	}
	if s.hasRun(name) {
		// Created by an earlier reconcile, which left recording it to this
		// one (or whose status write was lost), or staged ahead.
		if exp.Status.LastScheduleTime == nil || exp.Status.LastScheduleTime.Time.Before(at) {
			msg := fmt.Sprintf("created run %s for the schedule time %s", name, when)
			setReady(exp, chaosv1alpha1.ReasonScheduled, msg, s.now)
			if conditionChanged(s.base().Status.Conditions, exp.Status.Conditions, chaosv1alpha1.ConditionReady) {
				// Announced once: a status write lost after this one
				// leaves the condition saying it already.
				s.onWrite(corev1.EventTypeNormal, chaosv1alpha1.ReasonScheduled, "CreateRun", msg)
				warnTooManyMissed(s, plan)
			}
		}
		exp.Status.LastScheduleTime = timeOrNil(at)
		return 0, nil
	}

	d, err := r.startGate(ctx, s)
	if err != nil {
		return 0, err
	}
	if d.Outcome != policy.Start {
		// Held, not skipped: the time stays due until the hold lifts or its
		// starting deadline passes.
		setReady(exp, d.Reason, d.Message, s.now)
		if conditionChanged(s.base().Status.Conditions, exp.Status.Conditions, chaosv1alpha1.ConditionReady) {
			s.onWrite(corev1.EventTypeNormal, d.Reason, "Hold", d.Message)
		}
		return schedule.RequeueAfter(d.RetryAt, s.now), nil
	}

	active := s.activeExcept(name)
	if len(active) > 0 && exp.Spec.ConcurrencyPolicy != chaosv1alpha1.ReplaceConcurrent {
		// Skipped for good, and recorded as handled so it is neither
		// retried nor announced again. (A CronJob instead keeps the time
		// due and starts it late, when the active Job ends.)
		exp.Status.LastScheduleTime = timeOrNil(at)
		msg := fmt.Sprintf("skipped the run due at %s: run %s is still active (concurrencyPolicy Forbid)", when, strings.Join(active, ", "))
		setReady(exp, chaosv1alpha1.ReasonConcurrencyForbid, msg, s.now)
		s.onWrite(corev1.EventTypeNormal, chaosv1alpha1.ReasonSkipped, "Skip", msg)
		warnTooManyMissed(s, plan)
		return 0, nil
	}

	var replaced []string
	if len(active) > 0 {
		if replaced, err = r.replaceActive(ctx, s, name); err != nil {
			return 0, err
		}
	}
	created, err := r.createRun(ctx, s, name, map[string]string{ScheduledAtAnnotation: when})
	if err != nil {
		return 0, err
	}
	if created && len(replaced) == 0 {
		// The run is the one write due now. Recording it (status, Event)
		// is left to the reconcile its creation triggers, queued behind
		// every other Experiment due at this instant: when a thousand fall
		// due together, each run's creation waits for creations only.
		s.skipPatch = true
		return 0, nil
	}
	exp.Status.LastScheduleTime = timeOrNil(at)
	msg := fmt.Sprintf("created run %s for the schedule time %s", name, when)
	if len(replaced) > 0 {
		msg += fmt.Sprintf("; run %s asked to abort (concurrencyPolicy Replace)", strings.Join(replaced, ", "))
	}
	setReady(exp, chaosv1alpha1.ReasonScheduled, msg, s.now)
	if created {
		r.event(exp, corev1.EventTypeNormal, chaosv1alpha1.ReasonScheduled, "CreateRun", msg)
	}
	warnTooManyMissed(s, plan)
	return 0, nil
}

// recordMissed records a run whose starting deadline passed as handled, and
// says so once.
func (r *Reconciler) recordMissed(s *scope, plan schedule.PlanResult) {
	at := *plan.SkippedTime
	s.exp.Status.LastScheduleTime = timeOrNil(at)
	msg := fmt.Sprintf("missed the run due at %s: it could not start within startingDeadlineSeconds (%ds)",
		at.UTC().Format(time.RFC3339), *s.exp.Spec.StartingDeadlineSeconds)
	setReady(s.exp, chaosv1alpha1.ReasonMissedSchedule, msg, s.now)
	s.onWrite(corev1.EventTypeWarning, chaosv1alpha1.ReasonMissedSchedule, "Skip", msg)
	warnTooManyMissed(s, plan)
}

// warnTooManyMissed warns when more than schedule.TooManyMissedThreshold
// times went by without a run. Not with windows: a frequent schedule held
// overnight by them misses that many by design.
func warnTooManyMissed(s *scope, plan schedule.PlanResult) {
	if !plan.TooManyMissed || len(s.exp.Spec.Windows) > 0 {
		return
	}
	s.onWrite(corev1.EventTypeWarning, chaosv1alpha1.ReasonMissedSchedule, "Skip", fmt.Sprintf(
		"more than %d schedule times were missed (about %d): the operator was down or held back for long, or a clock (the operator's or the API server's) is wrong; only the most recent time was considered",
		schedule.TooManyMissedThreshold, plan.Missed))
}

// startGate asks policy.Decide, the rule the run controller applies too,
// whether a scheduled run may be created now. A hold (kill switch,
// blackout, outside the windows) keeps the schedule time due; refused runs
// stay out of the history. A Refuse can only be an unreadable time zone,
// which reconcileSpec has already reported: the error is terminal.
func (r *Reconciler) startGate(ctx context.Context, s *scope) (policy.Decision, error) {
	p, err := chaospolicy.Get(ctx, r.experiments())
	if err != nil {
		return policy.Decision{}, err
	}
	d := policy.Decide(policy.Input{Spec: &s.exp.Spec, Policy: p, Now: s.now, Scheduled: true})
	if d.Outcome == policy.Refuse {
		return d, reconcile.TerminalError(errors.New(d.Message))
	}
	return d, nil
}

// replaceActive asks every active run but keep to abort, by the abort
// annotation with reason Replaced; the run controller reverts its fault and
// finishes it. It returns the runs asked.
func (r *Reconciler) replaceActive(ctx context.Context, s *scope, keep string) ([]string, error) {
	var replaced []string
	for i := range s.runs {
		run := &s.runs[i]
		if isFinished(run) || run.Name == keep || !run.DeletionTimestamp.IsZero() {
			continue
		}
		replaced = append(replaced, run.Name)
		if _, asked := run.Annotations[chaosv1alpha1.AbortAnnotation]; asked {
			continue // already aborting, for this or a person's reason
		}
		patch := client.MergeFrom(run.DeepCopy())
		metav1.SetMetaDataAnnotation(&run.ObjectMeta, chaosv1alpha1.AbortAnnotation, string(chaosv1alpha1.AbortReplaced))
		if err := r.Client.Patch(ctx, run, patch); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("asking run %s to abort: %w", run.Name, err)
		}
	}
	return replaced, nil
}

// createRun creates the run name of the Experiment, owned by it (so it is
// deleted with it) and labelled with it. It reports whether this call
// created it: AlreadyExists means an earlier reconcile did, before a crash
// or a lost status write, and is not an error.
func (r *Reconciler) createRun(ctx context.Context, s *scope, name string, annotations map[string]string) (bool, error) {
	exp := s.exp
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: exp.Namespace, Annotations: annotations},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
	}
	// A label value is at most 63 characters; an Experiment name may be
	// longer. Such runs are still found by the spec.experimentRef index.
	if len(validation.IsValidLabelValue(exp.Name)) == 0 {
		run.Labels = map[string]string{chaosv1alpha1.ExperimentLabel: exp.Name}
	}
	if err := controllerutil.SetControllerReference(exp, run, r.Client.Scheme()); err != nil {
		return false, fmt.Errorf("owning run %s: %w", name, err)
	}
	err := r.Client.Create(ctx, run)
	if err == nil {
		s.started(name)
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("creating run %s: %w", name, err)
	}
	// Unstructured, from the cache: the name matters, however the rest reads.
	existing := stored.NewRun()
	if err := r.runs().Get(ctx, client.ObjectKeyFromObject(run), existing); err == nil && stored.RunExperimentName(existing) != exp.Name {
		return false, fmt.Errorf("run name %s is taken by a run of experiment %q: delete or rename that run", name, stored.RunExperimentName(existing))
	}
	return false, nil
}

func readyReason(exp *chaosv1alpha1.Experiment) string {
	if c := meta.FindStatusCondition(exp.Status.Conditions, chaosv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

func firstSet(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}
