package v1alpha1

// Condition types of an ExperimentRun.
const (
	// ConditionInjected is True while, and after, the fault was applied: reason
	// FaultInjected while it is applied, FaultReverted once it was reverted (or,
	// for an instant fault such as a pod kill, once it is over). It never turns
	// back to False, so `kubectl wait --for=condition=Injected` and readers see
	// that the fault happened. It is False only on a run that finished without
	// injecting anything: reason DryRun (a dry run), InjectionFailed (every
	// target refused the fault) or NotInjected (the baseline did not hold, no
	// target could be selected, or the run was refused or aborted first).
	ConditionInjected = "Injected"
	// ConditionDetected is True once the steady-state probes saw the fault's
	// effect, reason Deviated. It is False, reason Absorbed, on a run whose
	// steady state never deviated after injection. An alert the Experiment
	// declares is recorded in timeline.alertedAt and result.detectedBy.
	ConditionDetected = "Detected"
	// ConditionRecovered is True once the steady state returned after a
	// deviation, reason Recovered, or, reason Absorbed, when it never
	// deviated; False, reason NotRecovered, when the run ended without it
	// returning.
	ConditionRecovered = "Recovered"
	// ConditionAborted is True when the run was aborted, with the
	// AbortReason as reason (SLOBreached, ProbeUnavailable, KillSwitch,
	// Deleted, Replaced, InjectionFailed or Manual).
	ConditionAborted = "Aborted"
	// ConditionCompleted is False from the start of the baseline (reason
	// BaselineStarted) and True once the run has a verdict, whatever the
	// verdict, with the reason the run ended (Passed, DryRun, NotRecovered,
	// BaselineNotHeld, ConfigError...). It does not say whether the run
	// passed: Ready does.
	ConditionCompleted = "Completed"
	// ConditionReconciling is True while a run is in progress, from the
	// moment the operator accepts it until its verdict, with the run's phase
	// as reason (Pending, Baseline, Injecting, Observing, Reverting or
	// Recovering); a finished run does not carry it. With Ready and Stalled
	// it follows the kstatus convention (sigs.k8s.io/cli-utils), so Flux,
	// kpt and any tool that reads it tell a run in progress from a finished
	// one without knowing Faultline.
	ConditionReconciling = "Reconciling"
)

// Condition types of an Experiment, a ChaosPolicy and an ExperimentRun.
const (
	// ConditionReady is True when the object is valid and reconciled. On an
	// ExperimentRun it is True only once the run Passed (a dry run that
	// passed included), reason Passed; it is False while the run is in
	// progress, with the phase as reason, and after any other verdict, with
	// the verdict as reason (Failed, Aborted, Inconclusive or Error). So
	// `kubectl wait --for=condition=Ready` succeeds only for a run a
	// pipeline may pass on.
	ConditionReady = "Ready"
	// ConditionStalled is True when reconciling cannot progress without a
	// change by the user. On an ExperimentRun it is True once the run ended
	// with any verdict but Passed, with the Completed condition's reason
	// (ConfigError, NotRecovered, Aborted, BaselineNotHeld...) and message:
	// the run will not change again, and only a new run can pass. A run in
	// progress never carries it, even while it reverts after a
	// configuration error.
	ConditionStalled = "Stalled"
)

// Reasons, shared by conditions and events. CamelCase, stable: tools match on them.
const (
	ReasonPending            = "Pending"
	ReasonBaselineStarted    = "BaselineStarted"
	ReasonBaselineHeld       = "BaselineHeld"
	ReasonBaselineNotHeld    = "BaselineNotHeld"
	ReasonTargetsSelected    = "TargetsSelected"
	ReasonNoTargets          = "NoTargets"
	ReasonFaultInjected      = "FaultInjected"
	ReasonInjectionFailed    = "InjectionFailed"
	ReasonNotInjected        = "NotInjected"
	ReasonDryRun             = "DryRun"
	ReasonDeviated           = "Deviated"
	ReasonAlertFired         = "AlertFired"
	ReasonAlertNotified      = "AlertNotified"
	ReasonRemediationStarted = "RemediationStarted"
	ReasonNotDetected        = "NotDetected"
	ReasonAbsorbed           = "Absorbed"
	ReasonFaultReverted      = "FaultReverted"
	ReasonRevertConflict     = "RevertConflict"
	ReasonRevertFailed       = "RevertFailed"
	ReasonRecovered          = "Recovered"
	ReasonNotRecovered       = "NotRecovered"
	ReasonSLOBreached        = "SLOBreached"
	ReasonProbeUnavailable   = "ProbeUnavailable"
	ReasonKillSwitch         = "KillSwitch"
	ReasonDeleted            = "Deleted"
	ReasonReplaced           = "Replaced"
	ReasonPassed             = "Passed"
	ReasonFailed             = "Failed"
	ReasonAborted            = "Aborted"
	ReasonInconclusive       = "Inconclusive"
	ReasonError              = "Error"
	ReasonExperimentNotFound = "ExperimentNotFound"
	ReasonPolicyRefused      = "PolicyRefused"
	ReasonWaitingForPolicy   = "WaitingForPolicy"
	ReasonWaitingForApproval = "WaitingForApproval"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonScheduled          = "Scheduled"
	ReasonSkipped            = "Skipped"
	ReasonMissedSchedule     = "MissedSchedule"
	ReasonOutsideWindow      = "OutsideWindow"
	ReasonBlackout           = "Blackout"
	ReasonConcurrencyForbid  = "ConcurrencyForbid"
	ReasonSuspended          = "Suspended"
	ReasonReconciled         = "Reconciled"
	ReasonPaused             = "Paused"
	ReasonForbidden          = "Forbidden"
	ReasonMalformed          = "Malformed"
	ReasonProviderNotAllowed = "ProviderNotAllowed"
	ReasonApproved           = "Approved"
	ReasonConfigError        = "ConfigError"
	ReasonKillSwitchEngaged  = "KillSwitchEngaged"
	ReasonKillSwitchReverted = "KillSwitchReverted"
	// ReasonErrorBudgetLow: an SLO had less error budget left than
	// steadyState.requireErrorBudget; nothing was injected.
	ReasonErrorBudgetLow = "ErrorBudgetLow"
	// ReasonSLOUnavailable: a referenced SLO could not be read or used.
	ReasonSLOUnavailable = "SLOUnavailable"
	// ReasonHarmFound: the faulted slice was significantly worse than
	// control.
	ReasonHarmFound = "HarmFound"
	// ReasonTooFewSamples: a comparison group had fewer samples than
	// minSamples.
	ReasonTooFewSamples = "TooFewSamples"
	// ReasonApprovalVoided: the run's approval was for another spec than
	// the one it would inject (the Experiment changed after approval); it
	// waits for a new approval.
	ReasonApprovalVoided = "ApprovalVoided"
	// ReasonApprovalRefused: an approval was refused at admission (the
	// approver asked for the run, wrote its spec, or is not an approver
	// the ChaosPolicy names).
	ReasonApprovalRefused = "ApprovalRefused"
	// ReasonTooManyTargets: the selection held more targets than a run
	// records (MaxRunTargets); nothing was injected.
	ReasonTooManyTargets = "TooManyTargets"
	// ReasonStatusTampered: the run's status no longer matches the record
	// the operator keeps of it in webhook-guarded annotations (its spec
	// snapshot, or a start without the approval the snapshot requires).
	ReasonStatusTampered = "StatusTampered"
)
