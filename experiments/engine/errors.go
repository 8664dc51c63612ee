package engine

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// What a run does when a step fails. A configuration error (a missing or
// unreadable Secret, malformed credentials, a provider that cannot be
// built, a forbidden listing) cannot be fixed by retrying for long: the run
// retries it a few times, spaced, and then ends with verdict Error, freeing
// its concurrency slot. A transient error (an API call that timed out) is
// retried with the controller's backoff. Neither keeps a fault applied
// while retrying: a configuration error aborts a run with an active fault at
// once, and a transient error does after MaxStepErrorWhileActive.
const (
	// MaxConfigErrorAttempts is how many times a step failing on a
	// configuration error is tried before the run ends.
	MaxConfigErrorAttempts = 3
	// ConfigErrorRetryInterval spaces those attempts: a Secret created a
	// moment after its run still counts.
	ConfigErrorRetryInterval = 10 * time.Second
	// MaxStepErrorWhileActive is how long steps may keep failing while a
	// fault may be active before the run aborts and reverts.
	MaxStepErrorWhileActive = 30 * time.Second
)

// FaultMayBeActive reports whether the run may have a fault applied: from
// the first injection to the end of the revert.
func (r Run) FaultMayBeActive() bool {
	switch r.Status.Phase {
	case chaosv1alpha1.PhaseObserving, chaosv1alpha1.PhaseReverting:
		return true
	case chaosv1alpha1.PhaseInjecting:
		for _, t := range r.Status.Targets {
			if t.Phase == chaosv1alpha1.TargetInjected || t.InjectedAt != nil {
				return true
			}
		}
	}
	return false
}

// ConfigErrorRetryWait is how long to wait before the next attempt of a
// step that failed on a configuration error; zero when none is pending or
// it is due. The controller asks before each step, so a status write that
// wakes the run early does not spend an attempt.
func (r Run) ConfigErrorRetryWait(now time.Time) time.Duration {
	p := r.Status.Progress
	if p.ConfigErrorAttempts == 0 || p.LastConfigErrorAt == nil {
		return 0
	}
	return max(p.LastConfigErrorAt.Add(ConfigErrorRetryInterval).Sub(now), 0)
}

// ApplyConfigError records a step that failed on a configuration error;
// message says what to fix. A run with a fault that may be active is aborted
// at once, and ends with verdict Error once reverted; any other run retries
// until MaxConfigErrorAttempts, then ends with verdict Error. Either way the
// run carries a Stalled condition with reason ConfigError.
func (r Run) ApplyConfigError(now time.Time, message string) []Event {
	st := r.Status
	if st.Phase == chaosv1alpha1.PhaseCompleted {
		return nil
	}
	message = truncate(message, 900)
	if st.Phase != chaosv1alpha1.PhaseReverting && r.FaultMayBeActive() {
		reason := chaosv1alpha1.AbortProbeUnavailable
		if st.Phase == chaosv1alpha1.PhaseInjecting {
			reason = chaosv1alpha1.AbortInjectionFailed
		}
		events := r.abort(now, chaosv1alpha1.AbortStatus{Reason: reason,
			Message: "configuration error: " + message + "; reverting the fault before ending the run"})
		st.Progress.ConfigError = message
		setCondition(st, chaosv1alpha1.ConditionStalled, metav1.ConditionTrue, chaosv1alpha1.ReasonConfigError, message, now)
		return events
	}
	st.Progress.ConfigErrorAttempts++
	st.Progress.LastConfigErrorAt = micro(now)
	st.Progress.ConfigError = message
	if st.Progress.ConfigErrorAttempts >= MaxConfigErrorAttempts {
		setCondition(st, chaosv1alpha1.ConditionStalled, metav1.ConditionTrue, chaosv1alpha1.ReasonConfigError, message, now)
		final := fmt.Sprintf("configuration error, %d attempts failed: %s", st.Progress.ConfigErrorAttempts, message)
		if st.Phase == chaosv1alpha1.PhaseReverting {
			final += "; the fault could not be reverted by the run: the reaper reverts what it left when it expires"
		} else {
			final += "; nothing is injected"
		}
		return r.finishWith(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonConfigError, final)
	}
	st.Message = fmt.Sprintf("configuration error (attempt %d of %d, retrying in %s): %s",
		st.Progress.ConfigErrorAttempts, MaxConfigErrorAttempts, ConfigErrorRetryInterval, message)
	if st.Progress.ConfigErrorAttempts > 1 {
		return nil // announced once, at the first attempt
	}
	return []Event{{Warning: true, Reason: chaosv1alpha1.ReasonConfigError, Message: st.Message}}
}

// ApplyStepError records a step that failed on a transient error, which the
// controller retries with backoff. A run that may have a fault applied and
// whose steps have failed for MaxStepErrorWhileActive is aborted, so the
// fault is reverted rather than kept on while retrying. A revert itself is
// never abandoned: it keeps being retried.
func (r Run) ApplyStepError(now time.Time, err error) []Event {
	st := r.Status
	if st.Phase == chaosv1alpha1.PhaseCompleted {
		return nil
	}
	if st.Progress.StepErrorSince == nil {
		st.Progress.StepErrorSince = micro(now)
		return nil
	}
	if st.Phase == chaosv1alpha1.PhaseReverting || !r.FaultMayBeActive() ||
		now.Sub(st.Progress.StepErrorSince.Time) < MaxStepErrorWhileActive {
		return nil
	}
	reason := chaosv1alpha1.AbortProbeUnavailable
	if st.Phase == chaosv1alpha1.PhaseInjecting {
		reason = chaosv1alpha1.AbortInjectionFailed
	}
	return r.abort(now, chaosv1alpha1.AbortStatus{Reason: reason,
		Message: truncate(fmt.Sprintf("the run could not advance for %s: %v; reverting the fault", MaxStepErrorWhileActive, err), 900)})
}

// ClearStepErrors forgets the failed attempts once a step succeeded. A
// configuration error the run was aborted for is kept: it decides the verdict.
func (r Run) ClearStepErrors() {
	p := &r.Status.Progress
	p.ConfigErrorAttempts, p.LastConfigErrorAt, p.StepErrorSince = 0, nil, nil
	if r.Status.Abort == nil {
		p.ConfigError = ""
	}
}

// finishConfigError ends a run that was aborted for a configuration error
// and is now reverted.
func (r Run) finishConfigError(now time.Time) []Event {
	msg := "configuration error: " + r.Status.Progress.ConfigError + "; the fault was reverted"
	return r.finishWith(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonConfigError, msg)
}
