package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunPhase is where a run is in its life.
// +kubebuilder:validation:Enum=Pending;Baseline;Injecting;Observing;Reverting;Recovering;Completed
type RunPhase string

const (
	// PhasePending means accepted, not yet started (waiting for policy or approval).
	PhasePending RunPhase = "Pending"
	// PhaseBaseline means verifying the steady state before touching anything.
	PhaseBaseline RunPhase = "Baseline"
	// PhaseInjecting means targets recorded, the fault being applied.
	PhaseInjecting RunPhase = "Injecting"
	// PhaseObserving means the fault is active; probes and guards are sampled.
	PhaseObserving RunPhase = "Observing"
	// PhaseReverting means the fault is being undone.
	PhaseReverting RunPhase = "Reverting"
	// PhaseRecovering means the fault is gone; waiting for the steady state to return.
	PhaseRecovering RunPhase = "Recovering"
	// PhaseCompleted means finished; the verdict is final.
	PhaseCompleted RunPhase = "Completed"
)

// Verdict is the outcome of a finished run.
// +kubebuilder:validation:Enum=Passed;Failed;Aborted;Inconclusive;Error
type Verdict string

const (
	// VerdictPassed means every objective was met. A dry run passes, with
	// reason DryRun on the Completed condition, when its baseline held and its
	// targets were resolved; it injected nothing, and its message says how
	// many targets the fault would have hit.
	VerdictPassed Verdict = "Passed"
	// VerdictFailed means an objective was missed, or the system did not recover.
	VerdictFailed Verdict = "Failed"
	// VerdictAborted means a guard fired, probes went blind, or the run was stopped.
	VerdictAborted Verdict = "Aborted"
	// VerdictInconclusive means the run could not test the hypothesis (the baseline
	// did not hold, no target could be selected, the fault could not be applied
	// to any target, or policy refused it); nothing was injected. A dry run
	// whose baseline did not hold, or that found no target, ends so too.
	VerdictInconclusive Verdict = "Inconclusive"
	// VerdictError means the run could not be carried out (bad reference, API errors).
	VerdictError Verdict = "Error"
)

// AbortReason says why a run was aborted.
// +kubebuilder:validation:Enum=SLOBreached;ProbeUnavailable;KillSwitch;Deleted;Replaced;InjectionFailed;Manual;StatusTampered
type AbortReason string

const (
	// AbortSLOBreached means a guard was breached for its window.
	AbortSLOBreached AbortReason = "SLOBreached"
	// AbortProbeUnavailable means probes failed to answer; Faultline stopped hurting
	// a system it could not see.
	AbortProbeUnavailable AbortReason = "ProbeUnavailable"
	// AbortKillSwitch means the ChaosPolicy was paused.
	AbortKillSwitch AbortReason = "KillSwitch"
	// AbortDeleted means the run was deleted while its fault was active.
	AbortDeleted AbortReason = "Deleted"
	// AbortReplaced means a newer run replaced it (concurrencyPolicy Replace).
	AbortReplaced AbortReason = "Replaced"
	// AbortManual means a person asked for the abort with the abort annotation.
	AbortManual AbortReason = "Manual"
	// AbortInjectionFailed means the fault could not be applied to every target.
	AbortInjectionFailed AbortReason = "InjectionFailed"
	// AbortStatusTampered means the run's status was written by someone
	// other than the operator: it no longer matches the operator's record of
	// the run, so the run is ended rather than carried on from it.
	AbortStatusTampered AbortReason = "StatusTampered"
)

// ExperimentReference names an Experiment in the run's namespace.
type ExperimentReference struct {
	// name of the Experiment.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="experimentRef.name must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), such as \"checkout-pod-kill\""
	Name string `json:"name"`
}

// ExperimentRunSpec says which Experiment to run, and how.
//
// The spec is immutable, compared field by field with an absent dryRun equal
// to false: comparing whole objects refused the operator's own finalizer
// update of a run whose manifest wrote out dryRun: false (the operator's
// client drops the omitempty field), and such a run never started.
// +kubebuilder:validation:XValidation:rule="self.experimentRef.name == oldSelf.experimentRef.name && (has(self.dryRun) && self.dryRun) == (has(oldSelf.dryRun) && oldSelf.dryRun)",message="ExperimentRun spec is immutable; create a new ExperimentRun instead"
type ExperimentRunSpec struct {
	// experimentRef names the Experiment to run.
	// +required
	ExperimentRef ExperimentReference `json:"experimentRef"`

	// dryRun resolves targets and runs the probes, but injects nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ProbeKind tells steady-state probes, guards and detection alerts apart.
// +kubebuilder:validation:Enum=Probe;Guard;Alert
type ProbeKind string

const (
	// ProbeKindSteadyState is a steady-state probe.
	ProbeKindSteadyState ProbeKind = "Probe"
	// ProbeKindGuard is an abort guard.
	ProbeKindGuard ProbeKind = "Guard"
	// ProbeKindAlert is a detection alert.
	ProbeKindAlert ProbeKind = "Alert"
)

// ProbeStatus summarises the samples of one probe, guard or alert.
type ProbeStatus struct {
	// name of the probe, guard or alert.
	// +required
	Name string `json:"name"`
	// kind is Probe, Guard or Alert.
	// +required
	Kind ProbeKind `json:"kind"`
	// baseline is the last value seen during the baseline.
	// +optional
	Baseline string `json:"baseline,omitempty"`
	// worst is the value furthest on the failing side of the condition.
	// +optional
	Worst string `json:"worst,omitempty"`
	// last is the latest value.
	// +optional
	Last string `json:"last,omitempty"`
	// samples taken.
	// +optional
	Samples int32 `json:"samples,omitempty"`
	// failures counts the samples where the condition did not hold.
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// errors counts the samples that could not be taken.
	// +optional
	Errors int32 `json:"errors,omitempty"`
	// lastError is the latest error.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// breachedSince is when a guard's current breach began.
	// +optional
	BreachedSince *metav1.MicroTime `json:"breachedSince,omitempty"`
	// baselineMean is the mean of the values answered during the baseline,
	// the reference of a condition relative to it.
	// +optional
	BaselineMean string `json:"baselineMean,omitempty"`
	// baselineSamples is how many values baselineMean averages.
	// +optional
	BaselineSamples int32 `json:"baselineSamples,omitempty"`
	// threshold is the absolute value a relative condition (such as
	// "+10%") resolved to when the baseline ended.
	// +optional
	Threshold string `json:"threshold,omitempty"`
}

// Progress is the state machine's memory between samples, kept in status so a
// restarted operator resumes exactly where the run was.
type Progress struct {
	// lastSampleAt is when probes were last sampled.
	// +optional
	LastSampleAt *metav1.MicroTime `json:"lastSampleAt,omitempty"`
	// baselineSince is when the current unbroken run of passing baseline samples began.
	// +optional
	BaselineSince *metav1.MicroTime `json:"baselineSince,omitempty"`
	// passStreak counts consecutive all-passing samples after the deviation.
	// +optional
	PassStreak int32 `json:"passStreak,omitempty"`
	// passStreakStart is the first sample of the current pass streak.
	// +optional
	PassStreakStart *metav1.MicroTime `json:"passStreakStart,omitempty"`
	// probeErrorStreak counts consecutive samples with a probe error.
	// +optional
	ProbeErrorStreak int32 `json:"probeErrorStreak,omitempty"`
	// probeErrorSince is the first sample of the current probe error streak.
	// +optional
	ProbeErrorSince *metav1.MicroTime `json:"probeErrorSince,omitempty"`
	// holdUntil is when a sustained fault is due to be reverted.
	// +optional
	HoldUntil *metav1.MicroTime `json:"holdUntil,omitempty"`
	// configErrorAttempts counts the consecutive attempts of a step that
	// failed on a configuration error (a missing Secret, malformed
	// credentials, a forbidden listing); at the limit the run ends with
	// verdict Error. Kept here so a restarted operator continues the count.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConfigErrorAttempts int32 `json:"configErrorAttempts,omitempty"`
	// lastConfigErrorAt is when the last of those attempts failed; the next
	// attempt is due one retry interval later.
	// +optional
	LastConfigErrorAt *metav1.MicroTime `json:"lastConfigErrorAt,omitempty"`
	// configError is the last configuration error and what to fix. A run
	// aborted for it keeps it, and ends with verdict Error once reverted.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	ConfigError string `json:"configError,omitempty"`
	// lastAnsweredAt is the last sample whose steady-state probes all
	// answered, or the injection: where the next gap would start.
	// +optional
	LastAnsweredAt *metav1.MicroTime `json:"lastAnsweredAt,omitempty"`
	// unansweredSamples counts the samples since lastAnsweredAt that the
	// steady-state probes did not answer.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UnansweredSamples int32 `json:"unansweredSamples,omitempty"`
	// failingProbes names the steady-state probes that failed at
	// lastAnsweredAt: a change seen by the next sample can only be theirs
	// (or a probe's that passed there and fails now).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	FailingProbes []string `json:"failingProbes,omitempty"`
	// passStreakResolution is how precisely passStreakStart is known; it
	// becomes recoveredAt's when the streak is long enough.
	// +optional
	PassStreakResolution *Resolution `json:"passStreakResolution,omitempty"`
	// passStreakProbes names the probes a range query re-evaluates to date
	// the start of the current passing streak more sharply: every
	// steady-state probe, when all are Prometheus probes; empty otherwise.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PassStreakProbes []string `json:"passStreakProbes,omitempty"`
	// refine lists the crossings a sample placed (deviatedAt, recoveredAt)
	// that Prometheus probes alone decide: before the verdict, a range
	// query re-evaluates those probes to place each at the first
	// evaluation that crossed.
	// +optional
	// +listType=map
	// +listMapKey=instant
	// +kubebuilder:validation:MaxItems=2
	Refine []CrossingToRefine `json:"refine,omitempty"`
	// refineRequestedAt is when the observation ended with crossings to
	// refine; the verdict waits for the refinement.
	// +optional
	RefineRequestedAt *metav1.MicroTime `json:"refineRequestedAt,omitempty"`
	// stepErrorSince is when the current streak of failing steps, transient
	// API errors included, began. While a fault is active, a streak longer
	// than a bound aborts the run: a fault is never kept on while retrying.
	// +optional
	StepErrorSince *metav1.MicroTime `json:"stepErrorSince,omitempty"`
}

// CrossingToRefine is a timeline instant a range query over the
// Prometheus probes that made it may place more sharply.
type CrossingToRefine struct {
	// instant names the timeline field: deviatedAt or recoveredAt.
	// +required
	// +kubebuilder:validation:Enum=deviatedAt;recoveredAt
	Instant string `json:"instant"`
	// probes names the Prometheus steady-state probes whose crossing made it.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Probes []string `json:"probes"`
}

// AbortStatus says why and how a run was aborted.
type AbortStatus struct {
	// reason for the abort.
	// +required
	Reason AbortReason `json:"reason"`
	// guard that fired, for SLOBreached.
	// +optional
	Guard string `json:"guard,omitempty"`
	// value that breached the guard.
	// +optional
	Value string `json:"value,omitempty"`
	// firstBreachAt is the first sample of the guard's breach that fired,
	// for SLOBreached only: an abort no guard caused has none.
	// +optional
	FirstBreachAt *metav1.MicroTime `json:"firstBreachAt,omitempty"`
	// firstErrorAt is the first of the consecutive samples the probes did
	// not answer, for a ProbeUnavailable abort those samples caused.
	// +optional
	FirstErrorAt *metav1.MicroTime `json:"firstErrorAt,omitempty"`
	// decidedAt is when the run decided to abort: the sample that saw a
	// guard breached for its whole window, the probe error threshold
	// reached, or the reconcile that saw the kill switch, the request or
	// the deletion. A run aborted before decidedAt was recorded has its
	// Aborted condition's lastTransitionTime, the same decision to the
	// second (engine.AbortDecidedAt).
	// +optional
	DecidedAt *metav1.MicroTime `json:"decidedAt,omitempty"`
	// message in words.
	// +optional
	Message string `json:"message,omitempty"`
}

// ApprovalStatus records who approved a run and when.
type ApprovalStatus struct {
	// approvedBy is the user who approved the run.
	// +required
	ApprovedBy string `json:"approvedBy"`

	// approvedAt is when the operator saw the approval.
	// +optional
	ApprovedAt *metav1.MicroTime `json:"approvedAt,omitempty"`
}

// ExperimentRunStatus is the report of one run.
type ExperimentRunStatus struct {
	// conditions are Injected, Detected, Recovered, Aborted, Completed,
	// and Reconciling, Ready and Stalled, which follow the kstatus
	// convention.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase of the run.
	// +optional
	Phase RunPhase `json:"phase,omitempty"`

	// verdict of the run, once it is Completed.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`

	// message is the run's summary in words.
	// +optional
	Message string `json:"message,omitempty"`

	// experimentGeneration is the generation of the Experiment this run used.
	// +optional
	ExperimentGeneration int64 `json:"experimentGeneration,omitempty"`

	// experiment is the snapshot of the Experiment spec this run used; later
	// edits of the Experiment do not change a run in flight. It was checked
	// when the Experiment was admitted and is written only by the operator,
	// so the CRD keeps it without a schema (see docs/decisions/
	// run-snapshot.md): every status write would otherwise validate the
	// whole Experiment schema and its rules again.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Experiment *ExperimentSpec `json:"experiment,omitempty"`

	// requestedBy is the user whose rights the run acts with: who created
	// it, or for a scheduled run the Experiment's recorded owner.
	// +optional
	RequestedBy string `json:"requestedBy,omitempty"`

	// approval records who approved the run, when its Experiment requires it.
	// +optional
	Approval *ApprovalStatus `json:"approval,omitempty"`

	// targets the run acts on, with what revert needs, at most
	// MaxRunTargets. Written before injection.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	Targets []TargetStatus `json:"targets,omitempty"`

	// timeline of the run.
	// +optional
	Timeline Timeline `json:"timeline,omitempty"`

	// result holds the measured figures.
	// +optional
	Result *RunResult `json:"result,omitempty"`

	// probes summarises every probe, guard and alert.
	// +optional
	// +listType=atomic
	Probes []ProbeStatus `json:"probes,omitempty"`

	// abort says why the run was aborted.
	// +optional
	Abort *AbortStatus `json:"abort,omitempty"`

	// notification is what the operator's Alertmanager webhook receiver
	// recorded for the run's declared alerts, or why it could not.
	// +optional
	Notification *NotificationStatus `json:"notification,omitempty"`

	// remediation says what started automatic remediation
	// (timeline.remediationStartedAt), or what was looked for and not seen.
	// +optional
	Remediation *RemediationStatus `json:"remediation,omitempty"`

	// slos are what the run derived from the SLOs its probes and guards
	// reference, when it started.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=48
	SLOs []SLOStatus `json:"slos,omitempty"`

	// comparison of the faulted slice with the rest, when the Experiment
	// declares one.
	// +optional
	Comparison *ComparisonStatus `json:"comparison,omitempty"`

	// progress is the state machine's memory between samples.
	// +optional
	Progress Progress `json:"progress,omitempty"`
}

// ExperimentName is the Experiment run belongs to: spec.experimentRef.name,
// which the schema keeps immutable. It is the one rule for "the runs of
// Experiment X"; the chaos.faultline.dev/experiment label is only a hint
// for server-side selection (anyone who may label a run may change it) and
// never decides.
func (r *ExperimentRun) ExperimentName() string { return r.Spec.ExperimentRef.Name }

// ExperimentRun is one execution of an Experiment, and its report.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=run;runs;exprun,categories=chaos
// +kubebuilder:printcolumn:name="Experiment",type=string,JSONPath=`.spec.experimentRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Detect",type=string,JSONPath=`.status.result.timeToDetect`
// +kubebuilder:printcolumn:name="Recover",type=string,JSONPath=`.status.result.timeToRecover`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
type ExperimentRun struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which Experiment to run.
	// +required
	Spec ExperimentRunSpec `json:"spec"`

	// status is the report. Until the operator writes it, it reads as
	// observedGeneration 0, so kstatus sees a run nobody has looked at yet
	// as in progress rather than as current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status ExperimentRunStatus `json:"status,omitzero"`
}

// ExperimentRunList is a list of ExperimentRuns.
//
// +kubebuilder:object:root=true
type ExperimentRunList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExperimentRun `json:"items"`
}
