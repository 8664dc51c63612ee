package policy

import (
	"fmt"
	"strings"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

// ConcurrencyRecheck is how long a run held by maxConcurrentRuns waits before
// it looks again. Another run finishing does not wake it (that would mean
// waking every waiting run on every run's change), so it polls, gently.
const ConcurrencyRecheck = 10 * time.Second

// Outcome is what Decide says about a run.
type Outcome int

const (
	// Start means the run may start now.
	Start Outcome = iota
	// Wait means the run may not start yet; it is held, not refused.
	Wait
	// Refuse means the run must not start at all: it ends with a verdict.
	Refuse
)

// String names the outcome, for test failures and logs.
func (o Outcome) String() string {
	switch o {
	case Start:
		return "Start"
	case Wait:
		return "Wait"
	case Refuse:
		return "Refuse"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Approval is the approval state of a run.
type Approval struct {
	// Approved is true when the run carries chaos.faultline.dev/approved=true.
	Approved bool
	// ApprovedBy is who approved it, as the admission webhook recorded in
	// chaos.faultline.dev/approved-by; empty when nobody is recorded.
	ApprovedBy string
	// RequireApprover is true when an approval counts only with a recorded
	// approver: whenever the admission webhook is in place. Without it, an
	// annotation anyone who may patch the run wrote would start the run.
	// With it, the approval also counts only when MayApprove allows the
	// approver and it is pinned to the spec the run would inject.
	RequireApprover bool
	// Parties are the approver (with groups), the requester and the spec's
	// author, as the admission webhook recorded them.
	Parties ApprovalParties
	// ApprovedSpec is the SpecHash the approval is pinned to, as the
	// admission webhook recorded it.
	ApprovedSpec string
	// SnapshotHash is the SpecHash of the spec the run would inject.
	SnapshotHash string
}

// Input is everything Decide looks at. It is plain values so that the
// scheduler, before it creates a run, and the run controller, before a run
// starts, ask the very same question.
type Input struct {
	// Spec is the Experiment spec the run uses (the run's snapshot).
	Spec *chaosv1alpha1.ExperimentSpec
	// Policy is the ChaosPolicy; nil when there is none.
	Policy *chaosv1alpha1.ChaosPolicy
	// Now is the instant of the decision.
	Now time.Time
	// OtherActiveRuns counts the runs, other than this one, that have
	// started and not finished, cluster-wide.
	OtherActiveRuns int
	// Approval is the run's approval.
	Approval Approval
	// Scheduled is true when the scheduler asks about a scheduled run it
	// has yet to create. The kill switch, blackouts and windows then hold
	// the schedule time (Wait) instead of refusing a run, which keeps
	// refused runs out of the history; concurrency and approval are left to
	// the run, which waits for them in Pending once created.
	Scheduled bool
}

// Decision is the answer of Decide.
type Decision struct {
	// Outcome says whether the run starts, waits or is refused.
	Outcome Outcome
	// Reason is the CamelCase reason for conditions and events; empty for Start.
	Reason string
	// Message says in words why the run waits or is refused, and what lifts
	// it; for Start it holds Notes only.
	Message string
	// RetryAt is, for Wait, when to look again; zero when only a change (of
	// the ChaosPolicy or the run) can lift the hold, which the controllers
	// watch for.
	RetryAt time.Time
	// Verdict is, for Refuse, the run's verdict.
	Verdict chaosv1alpha1.Verdict
	// Notes are parts of the ChaosPolicy that were ignored because they
	// cannot be read (an unknown blackout time zone), for the run's message.
	// The ChaosPolicy controller reports them on the policy.
	Notes []string
}

// Decide says whether a run may start at in.Now. It applies, in order: the
// kill switch, the ChaosPolicy's blackout windows, the Experiment's windows
// (read in its time zone), maxConcurrentRuns, and approval. Blackouts and
// windows gate when a run starts; a run that started inside them finishes.
//
// A blackout window that cannot be read is ignored and named in Notes, so a
// typo in one ChaosPolicy field does not stop every run in the cluster; the
// ChaosPolicy controller marks the policy Stalled until it is fixed.
func Decide(in Input) Decision {
	d := decide(in)
	if notes := unreadableBlackouts(in.Policy); len(notes) > 0 {
		d.Notes = notes
		if d.Outcome == Start {
			d.Message = strings.Join(notes, "; ")
		} else {
			d.Message += "; " + strings.Join(notes, "; ")
		}
	}
	return d
}

func decide(in Input) Decision {
	p := in.Policy
	if p != nil && p.Spec.Paused {
		if in.Scheduled {
			return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonPaused,
				Message: "scheduled runs wait: the ChaosPolicy kill switch is on (spec.paused: true)"}
		}
		return Decision{Outcome: Refuse, Verdict: chaosv1alpha1.VerdictInconclusive, Reason: chaosv1alpha1.ReasonKillSwitch,
			Message: "the ChaosPolicy kill switch is on (spec.paused: true); the run did not start"}
	}
	if d, held := blackout(in); held {
		return d
	}
	if d, held := outsideWindows(in); held {
		return d
	}
	if in.Scheduled {
		return Decision{Outcome: Start}
	}
	if p != nil && p.Spec.MaxConcurrentRuns != nil && in.OtherActiveRuns >= int(*p.Spec.MaxConcurrentRuns) {
		return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonWaitingForPolicy, RetryAt: in.Now.Add(ConcurrencyRecheck),
			Message: fmt.Sprintf("waiting: %d runs are active and the ChaosPolicy allows %d at once (spec.maxConcurrentRuns)",
				in.OtherActiveRuns, *p.Spec.MaxConcurrentRuns)}
	}
	if a := in.Spec.Approval; a != nil && a.Required {
		switch {
		case !in.Approval.Approved:
			return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonWaitingForApproval,
				Message: fmt.Sprintf("waiting for approval by another user: kubectl faultline approve, or annotate the run with %s=true", chaosv1alpha1.ApprovedAnnotation)}
		case in.Approval.RequireApprover && in.Approval.ApprovedBy == "":
			return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonWaitingForApproval,
				Message: fmt.Sprintf("waiting for approval: %s=true is set but no approver is recorded (%s); approve again with kubectl faultline approve so the admission webhook records who approved",
					chaosv1alpha1.ApprovedAnnotation, chaosv1alpha1.ApprovedByAnnotation)}
		case in.Approval.RequireApprover:
			parties := in.Approval.Parties
			if parties.Approver.Username == "" {
				parties.Approver.Username = in.Approval.ApprovedBy
			}
			if why := MayApprove(in.Policy, parties); why != "" {
				return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonWaitingForApproval,
					Message: "waiting for approval by another user: the recorded approval does not count: " + why}
			}
			if in.Approval.ApprovedSpec == "" || in.Approval.ApprovedSpec != in.Approval.SnapshotHash {
				return Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonApprovalVoided,
					Message: fmt.Sprintf("waiting for a new approval: the approval was given for another spec (%s) than the one this run would inject (%s), because the Experiment changed after approval; approve again with kubectl faultline approve",
						orNone(in.Approval.ApprovedSpec), in.Approval.SnapshotHash)}
			}
		}
	}
	return Decision{Outcome: Start}
}

// orNone is s, or "none recorded".
func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}

// blackout holds or refuses a run inside a readable blackout window.
func blackout(in Input) (Decision, bool) {
	if in.Policy == nil {
		return Decision{}, false
	}
	windows := readableBlackouts(in.Policy.Spec.BlackoutWindows)
	inside, i := schedule.InBlackout(windows, in.Now)
	if !inside {
		return Decision{}, false
	}
	w := windows[i]
	span := fmt.Sprintf("%s–%s (%s, %s)", w.Start, w.End, days(w.Days), zoneName(w.TimeZone))
	if !in.Scheduled {
		return Decision{Outcome: Refuse, Verdict: chaosv1alpha1.VerdictInconclusive, Reason: chaosv1alpha1.ReasonPolicyRefused,
			Message: "refused: inside the ChaosPolicy blackout window " + span + "; nothing was injected"}, true
	}
	d := Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonBlackout, Message: "scheduled runs wait: inside the ChaosPolicy blackout window " + span}
	if end, ok := schedule.NextBlackoutEnd(windows, in.Now); ok {
		d.RetryAt = end
		d.Message += "; it ends " + end.UTC().Format(time.RFC3339)
	}
	return d, true
}

// outsideWindows holds or refuses a run outside every window of its
// Experiment. An Experiment whose time zone cannot be read is refused: its
// windows mean nothing without it, and guessing UTC would run a game day at
// the wrong hour.
func outsideWindows(in Input) (Decision, bool) {
	if len(in.Spec.Windows) == 0 {
		return Decision{}, false
	}
	loc, err := schedule.LoadLocation(in.Spec.TimeZone)
	if err != nil {
		return Decision{Outcome: Refuse, Verdict: chaosv1alpha1.VerdictError, Reason: chaosv1alpha1.ReasonInvalidSpec,
			Message: "the experiment's windows cannot be read: " + err.Error()}, true
	}
	if schedule.InWindows(in.Spec.Windows, loc, in.Now) {
		return Decision{}, false
	}
	next, ok := schedule.NextWindowOpen(in.Spec.Windows, loc, in.Now)
	if !in.Scheduled {
		msg := fmt.Sprintf("refused: %s is outside the experiment's windows", in.Now.In(loc).Format("Mon 15:04 MST"))
		if ok {
			msg += "; the next window opens " + next.In(loc).Format("Mon 2006-01-02 15:04 MST")
		}
		return Decision{Outcome: Refuse, Verdict: chaosv1alpha1.VerdictInconclusive, Reason: chaosv1alpha1.ReasonPolicyRefused,
			Message: msg + "; nothing was injected"}, true
	}
	d := Decision{Outcome: Wait, Reason: chaosv1alpha1.ReasonOutsideWindow, Message: "scheduled runs wait: outside the experiment's windows"}
	if ok {
		d.RetryAt = next
		d.Message += "; the next opens " + next.In(loc).Format("Mon 2006-01-02 15:04 MST")
	}
	return d, true
}

// readableBlackouts returns the blackout windows that can be read.
func readableBlackouts(windows []chaosv1alpha1.BlackoutWindow) []chaosv1alpha1.BlackoutWindow {
	var out []chaosv1alpha1.BlackoutWindow
	for _, w := range windows {
		if schedule.ValidateBlackouts([]chaosv1alpha1.BlackoutWindow{w}) == nil {
			out = append(out, w)
		}
	}
	return out
}

// unreadableBlackouts says which blackout windows of p Decide ignored.
func unreadableBlackouts(p *chaosv1alpha1.ChaosPolicy) []string {
	if p == nil {
		return nil
	}
	var notes []string
	for i, w := range p.Spec.BlackoutWindows {
		if err := schedule.ValidateBlackouts([]chaosv1alpha1.BlackoutWindow{w}); err != nil {
			notes = append(notes, fmt.Sprintf("the ChaosPolicy's spec.blackoutWindows[%d] cannot be read and was ignored (%s); see the ChaosPolicy's status",
				i, strings.ReplaceAll(strings.ReplaceAll(err.Error(), "spec.blackoutWindows[0]", "window"), "\n", "; ")))
		}
	}
	return notes
}

// IsActive reports whether a run in phase counts against maxConcurrentRuns:
// it has started and not finished, so its fault is active or about to be.
func IsActive(p chaosv1alpha1.RunPhase) bool {
	switch p {
	case chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
		chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseRecovering:
		return true
	}
	return false
}

func days(ds []chaosv1alpha1.Weekday) string {
	if len(ds) == 0 {
		return "every day"
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = string(d)
	}
	return strings.Join(names, ",")
}

func zoneName(tz *string) string {
	if tz == nil || *tz == "" {
		return "UTC"
	}
	return *tz
}
