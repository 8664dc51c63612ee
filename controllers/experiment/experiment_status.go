package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

// This file holds the pure part of the controller: what the status says
// about a set of runs, which runs to prune, the run-now bookkeeping and the
// condition setters. (Whether a scheduled run may start is policy.Decide.)
// None of it talks to the API server; experiment_status_test.go tables it.

// MaxRecentRuns is how many run summaries status.recent keeps.
const MaxRecentRuns = 10

// DefaultRunHistoryLimit applies when spec.runHistoryLimit is unset (the CRD
// defaults it; an object stored before the default existed may lack it).
const DefaultRunHistoryLimit = 10

// isFinished reports whether run has its final verdict. Every other run
// counts as active: a Pending run waiting for approval or for the policy
// may still inject, and a run being deleted may still be reverting.
func isFinished(run *chaosv1alpha1.ExperimentRun) bool {
	return run.Status.Phase == chaosv1alpha1.PhaseCompleted
}

// summarize returns the short record of run for status.recent. Instants are
// truncated to the second, the precision metav1.Time keeps in the API
// server, so a summary read back equals the one computed and an unchanged
// run never causes a status write.
func summarize(run *chaosv1alpha1.ExperimentRun) chaosv1alpha1.RunSummary {
	s := chaosv1alpha1.RunSummary{
		Name:       run.Name,
		Verdict:    run.Status.Verdict,
		StartedAt:  seconds(run.Status.Timeline.StartedAt),
		FinishedAt: seconds(run.Status.Timeline.FinishedAt),
	}
	if res := run.Status.Result; res != nil {
		s.TimeToDetect = res.TimeToDetect.DeepCopy()
		s.TimeToRecover = res.TimeToRecover.DeepCopy()
	}
	return s
}

func seconds(t *metav1.MicroTime) *metav1.Time {
	if t == nil {
		return nil
	}
	at := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &at
}

// datedSummary is a summary with the instant it sorts by.
type datedSummary struct {
	chaosv1alpha1.RunSummary
	at time.Time
}

// summaryTime is when a summary's run finished, else started, else fallback.
func summaryTime(s chaosv1alpha1.RunSummary, fallback time.Time) time.Time {
	switch {
	case s.FinishedAt != nil:
		return s.FinishedAt.Time
	case s.StartedAt != nil:
		return s.StartedAt.Time
	}
	return fallback
}

// activeRuns returns the names of the unfinished runs, oldest first.
func activeRuns(runs []chaosv1alpha1.ExperimentRun) []string {
	var active []*chaosv1alpha1.ExperimentRun
	for i := range runs {
		if !isFinished(&runs[i]) {
			active = append(active, &runs[i])
		}
	}
	slices.SortFunc(active, byCreation)
	names := make([]string, len(active))
	for i, r := range active {
		names[i] = r.Name
	}
	return names
}

// byCreation orders runs oldest first, by name among runs created in the
// same second (creationTimestamp has no finer precision).
func byCreation(a, b *chaosv1alpha1.ExperimentRun) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// recentRuns returns at most limit summaries of finished runs, newest
// first (by finishedAt, then startedAt, then creation). It merges the
// finished runs that exist with the previous status.recent, so the trend
// outlives runs pruned by runHistoryLimit or deleted by hand; a run that
// still exists is summarized afresh.
func recentRuns(runs []chaosv1alpha1.ExperimentRun, previous []chaosv1alpha1.RunSummary, limit int) []chaosv1alpha1.RunSummary {
	seen := map[string]bool{}
	var all []datedSummary
	for i := range runs {
		run := &runs[i]
		if !isFinished(run) {
			continue
		}
		s := summarize(run)
		seen[s.Name] = true
		all = append(all, datedSummary{RunSummary: s, at: summaryTime(s, run.CreationTimestamp.Time)})
	}
	for _, s := range previous {
		if !seen[s.Name] {
			seen[s.Name] = true
			all = append(all, datedSummary{RunSummary: *s.DeepCopy(), at: summaryTime(s, time.Time{})})
		}
	}
	slices.SortFunc(all, func(a, b datedSummary) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	if len(all) > limit {
		all = all[:limit]
	}
	if len(all) == 0 {
		return nil
	}
	out := make([]chaosv1alpha1.RunSummary, len(all))
	for i := range all {
		out[i] = all[i].RunSummary
	}
	return out
}

// setRunStatus sets status.active and status.recent from the Experiment's
// runs.
func setRunStatus(status *chaosv1alpha1.ExperimentStatus, runs []chaosv1alpha1.ExperimentRun) {
	status.Active = activeRuns(runs)
	if len(status.Active) == 0 {
		status.Active = nil
	}
	status.Recent = recentRuns(runs, status.Recent, MaxRecentRuns)
}

// runsToPrune returns the finished runs beyond the newest limit finished
// ones, oldest first. Active runs are never returned, whatever the limit:
// deleting one would abort its experiment half-way.
func runsToPrune(runs []chaosv1alpha1.ExperimentRun, limit int32) []*chaosv1alpha1.ExperimentRun {
	var finished []*chaosv1alpha1.ExperimentRun
	for i := range runs {
		if isFinished(&runs[i]) && runs[i].DeletionTimestamp.IsZero() {
			finished = append(finished, &runs[i])
		}
	}
	excess := len(finished) - int(max(limit, 0))
	if excess <= 0 {
		return nil
	}
	slices.SortFunc(finished, byCreation)
	return finished[:excess]
}

// historyLimit is spec.runHistoryLimit or its default.
func historyLimit(spec *chaosv1alpha1.ExperimentSpec) int32 {
	if spec.RunHistoryLimit == nil {
		return DefaultRunHistoryLimit
	}
	return *spec.RunHistoryLimit
}

// pendingRunNow returns the run-now token not yet handled, if any. Each new
// value of the run-now annotation asks for one run; the value last acted on
// is kept in RunNowHandledAnnotation.
func pendingRunNow(annotations map[string]string) (token string, ok bool) {
	token = strings.TrimSpace(annotations[chaosv1alpha1.RunNowAnnotation])
	if token == "" || token == annotations[RunNowHandledAnnotation] {
		return "", false
	}
	return token, true
}

// runNowHashLength is the number of hex digits of a token's SHA-256 kept in
// the name of its run: 40 bits, so two tokens of one Experiment colliding
// (which would make the second find the first's run and start nothing) is
// not a practical concern.
const runNowHashLength = 10

// nameHashLength is the number of hex digits of the experiment name's hash
// kept when a run-now name has to be shortened.
const nameHashLength = 8

// RunNowName returns the name of the run started on demand by token for
// experiment: "<experiment>-now-<hash of token>". It depends on nothing
// else, so a controller that crashed after creating the run and before
// recording the token as handled finds the run (AlreadyExists) instead of
// starting a second one. Like schedule.RunName it never exceeds
// schedule.MaxRunNameLength, keeping a prefix and a hash of a long
// experiment name.
func RunNowName(experiment, token string) string {
	suffix := "now-" + shortHash(token, runNowHashLength)
	name := experiment + "-" + suffix
	if len(name) <= schedule.MaxRunNameLength {
		return name
	}
	keep := schedule.MaxRunNameLength - len(suffix) - nameHashLength - 2
	prefix := strings.TrimRight(experiment[:keep], "-.")
	return prefix + "-" + shortHash(experiment, nameHashLength) + "-" + suffix
}

func shortHash(s string, digits int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:digits]
}

// setReady sets the Ready condition, True with reason and message.
func setReady(exp *chaosv1alpha1.Experiment, reason, message string, now time.Time) {
	setCondition(exp, chaosv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message, now)
}

// setStalled marks the Experiment as unable to progress until its spec
// changes: Stalled True and Ready False, both with reason and message.
func setStalled(exp *chaosv1alpha1.Experiment, reason, message string, now time.Time) {
	setCondition(exp, chaosv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message, now)
	setCondition(exp, chaosv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message, now)
}

// clearStalled removes the Stalled condition: absent means not stalled.
func clearStalled(exp *chaosv1alpha1.Experiment) {
	meta.RemoveStatusCondition(&exp.Status.Conditions, chaosv1alpha1.ConditionStalled)
}

func setCondition(exp *chaosv1alpha1.Experiment, typ string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&exp.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		ObservedGeneration: exp.Generation,
		Reason:             reason,
		Message:            message,
		LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	})
}

// conditionChanged reports whether the condition typ differs in status,
// reason or message between before and after: a transition, the only time
// the controller emits an event about it.
func conditionChanged(before, after []metav1.Condition, typ string) bool {
	b, a := meta.FindStatusCondition(before, typ), meta.FindStatusCondition(after, typ)
	if b == nil || a == nil {
		return (b == nil) != (a == nil)
	}
	return b.Status != a.Status || b.Reason != a.Reason || b.Message != a.Message
}

// timeOrNil converts a schedule time for the status, nil for the zero time.
func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	at := metav1.NewTime(t.UTC())
	return &at
}

// earliest returns the sooner of two requeue delays, ignoring zero (none).
func earliest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}
