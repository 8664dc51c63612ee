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
	// ConditionDetected is True once the fault's effect was detected.
	ConditionDetected = "Detected"
	// ConditionRecovered is True once the steady state returned.
	ConditionRecovered = "Recovered"
	// ConditionAborted is True when the run was aborted.
	ConditionAborted = "Aborted"
	// ConditionCompleted is True when the run has a verdict.
	ConditionCompleted = "Completed"
)

// Condition types of an Experiment and a ChaosPolicy.
const (
	// ConditionReady is True when the object is valid and reconciled.
	ConditionReady = "Ready"
	// ConditionStalled is True when reconciling cannot progress without a change by the user.
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
)

// Labels and annotations Faultline reads and writes.
const (
	// RunAnnotation is set on every artefact a run injects, with the run's
	// namespace/name, so a reaper can find its run, or learn it is gone.
	// (A label value cannot hold the slash; InjectedLabel is the label.)
	RunAnnotation = "chaos.faultline.dev/run"
	// InjectedLabel is "true" on every artefact a run injects, next to
	// RunAnnotation, so the reaper lists only what Faultline touched.
	InjectedLabel = "chaos.faultline.dev/injected"
	// ExpiryAnnotation is set on every injected artefact: an RFC 3339 instant
	// after which the reaper reverts it even if its run still exists.
	ExpiryAnnotation = "chaos.faultline.dev/expires"
	// ExperimentLabel is set on every run with its Experiment's name.
	ExperimentLabel = "chaos.faultline.dev/experiment"
	// RunNowAnnotation on an Experiment starts one run per new value.
	RunNowAnnotation = "chaos.faultline.dev/run-now"
	// ApprovedAnnotation on a run approves it when the Experiment requires approval.
	ApprovedAnnotation = "chaos.faultline.dev/approved"
	// AbortAnnotation on a run asks the operator to abort it; the value is the
	// AbortReason to record (Replaced when a newer scheduled run replaces it,
	// anything else is recorded as the message of a manual abort).
	AbortAnnotation = "chaos.faultline.dev/abort"
	// RequestedByAnnotation on an Experiment or run records, as JSON, the user
	// who created it (or last changed an Experiment's spec): username, uid,
	// groups and extra, from the admission request. Only the admission
	// webhook writes it; runs act with these rights, re-checked at start.
	RequestedByAnnotation = "chaos.faultline.dev/requested-by"
	// ApprovedByAnnotation on a run records the user who approved it, as the
	// admission webhook saw them. Only the webhook writes it.
	ApprovedByAnnotation = "chaos.faultline.dev/approved-by"
	// PauseReasonAnnotation on the ChaosPolicy records why the kill switch
	// was engaged (kubectl faultline pause --reason).
	PauseReasonAnnotation = "chaos.faultline.dev/pause-reason"
	// ScheduledAtAnnotation on a scheduled run holds its schedule time in RFC
	// 3339. A run created ahead of that time (staged, so that only its start
	// is left for the instant it falls due) waits in Pending until then, for
	// at most a minute.
	ScheduledAtAnnotation = "chaos.faultline.dev/scheduled-at"
	// RunFinalizer keeps a run until its fault is reverted.
	RunFinalizer = "chaos.faultline.dev/revert"
)
