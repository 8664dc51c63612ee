package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A run's timeline and figures: the instants of its incident, how precisely
// each is known, and what was measured from them.

// Timeline holds the instants of a run, from one clock, to the microsecond.
type Timeline struct {
	// startedAt is when the run started.
	// +optional
	StartedAt *metav1.MicroTime `json:"startedAt,omitempty"`
	// baselineVerifiedAt is when the steady state had held for the baseline.
	// +optional
	BaselineVerifiedAt *metav1.MicroTime `json:"baselineVerifiedAt,omitempty"`
	// injectedAt is when the fault was applied: the failure onset.
	// +optional
	InjectedAt *metav1.MicroTime `json:"injectedAt,omitempty"`
	// deviatedAt is when the steady state first failed after injection:
	// the first sample that saw a probe fail, the instant a watch event
	// dated that failure between the previous sample and that one, or the
	// first failing evaluation of a range query over the Prometheus probes
	// that made it (resolutions says which).
	// +optional
	DeviatedAt *metav1.MicroTime `json:"deviatedAt,omitempty"`
	// alertedAt is when a detection alert started firing: the rule
	// evaluation at which Prometheus' alert state says it fired, or, when
	// Prometheus could not say, the first sample that saw it firing
	// (resolutions says which).
	// +optional
	AlertedAt *metav1.MicroTime `json:"alertedAt,omitempty"`
	// notifiedAt is when Alertmanager sent the first notification of a
	// declared alert firing after the injection: the instant the operator's
	// Alertmanager webhook receiver got the request. Alertmanager does not
	// say when it sent a notification, and the request's arrival is the
	// honest bound for it: later by the network and, after a failed
	// delivery, by Alertmanager's retry. notification says more.
	// +optional
	NotifiedAt *metav1.MicroTime `json:"notifiedAt,omitempty"`
	// revertedAt is when the fault was undone on every target.
	// +optional
	RevertedAt *metav1.MicroTime `json:"revertedAt,omitempty"`
	// remediationStartedAt is when automatic remediation began after the
	// injection (a replacement pod created, a rollback started), as the API
	// dates it: the object's creationTimestamp, a pod's PodScheduled
	// transition, or the Event's time; never before injectedAt. The API
	// keeps whole seconds, so resolutions says within 1s. remediation
	// says what it was.
	// +optional
	RemediationStartedAt *metav1.MicroTime `json:"remediationStartedAt,omitempty"`
	// recoveredAt is the start of the first stable all-passing window after
	// the deviation: its first sample, the instant a watch event dated the
	// change that began it, or the evaluation of a range query over the
	// Prometheus probes that began it (resolutions says which).
	// +optional
	RecoveredAt *metav1.MicroTime `json:"recoveredAt,omitempty"`
	// finishedAt is when the verdict was reached.
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
	// gaps are the stretches when the operator saw nothing: between two
	// samples whose steady-state probes answered, more than two intervals
	// and a second apart (an operator restart or leader change, a reconcile
	// held up, probes that did not answer). The first 20 are kept.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Gaps []SamplingGap `json:"gaps,omitempty"`
	// gapsOmitted counts the gaps after the first 20, which are not listed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	GapsOmitted int32 `json:"gapsOmitted,omitempty"`
	// resolutions say how precisely deviatedAt, alertedAt, notifiedAt,
	// remediationStartedAt and recoveredAt are known, recorded with each of
	// them.
	// +optional
	// +listType=map
	// +listMapKey=instant
	// +kubebuilder:validation:MaxItems=5
	Resolutions []InstantResolution `json:"resolutions,omitempty"`
}

// NotificationStatus is what the operator's Alertmanager webhook receiver
// recorded for a run: the first notification of a declared alert firing
// after the injection (timeline.notifiedAt), or why none could be observed.
type NotificationStatus struct {
	// alert is the declared alert (alertname) the notification carried.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Alert string `json:"alert,omitempty"`
	// receiver is the Alertmanager receiver that sent it, as its payload
	// names it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Receiver string `json:"receiver,omitempty"`
	// groupWait is the group_wait of the route that sent it, as the
	// receiver's URL declares it (its groupWait query parameter);
	// Alertmanager's payload does not carry it, so it is absent unless
	// declared.
	// +optional
	GroupWait *metav1.Duration `json:"groupWait,omitempty"`
	// unobserved says why a notification could not be observed, or may
	// have been missed: the receiver is off, or the operator started
	// receiving after the injection (a restart loses the notifications it
	// had received, which are kept in memory).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Unobserved string `json:"unobserved,omitempty"`
}

// GapCause says why the operator saw nothing for a while.
// +kubebuilder:validation:Enum=NotSampled;ProbeErrors
type GapCause string

const (
	// GapNotSampled means no sample was taken: the operator was down,
	// restarting, changing leader, or held up.
	GapNotSampled GapCause = "NotSampled"
	// GapProbeErrors means samples were taken but the steady-state probes
	// did not answer.
	GapProbeErrors GapCause = "ProbeErrors"
)

// SamplingGap is a stretch when the operator saw nothing.
type SamplingGap struct {
	// from is the last sample that answered before the gap, or the injection.
	// +required
	From metav1.MicroTime `json:"from"`
	// to is the first sample that answered after it, or when the run
	// finished without another.
	// +required
	To metav1.MicroTime `json:"to"`
	// cause is NotSampled or ProbeErrors.
	// +optional
	Cause GapCause `json:"cause,omitempty"`
	// unansweredSamples counts the samples taken in the gap that the
	// probes did not answer.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UnansweredSamples int32 `json:"unansweredSamples,omitempty"`
}

// ResolutionSource says how an instant was established, and so how
// precisely it is known.
// +kubebuilder:validation:Enum=ProbeInterval;Gap;Event;Alert;RangeQuery;Webhook
type ResolutionSource string

const (
	// ResolutionProbeInterval means the first sample that saw the change:
	// it happened at most one interval (within) before.
	ResolutionProbeInterval ResolutionSource = "ProbeInterval"
	// ResolutionGap means the change happened while the operator saw
	// nothing: the instant is the first sample after the gap, and the
	// change happened at most the gap's length (within) before it.
	ResolutionGap ResolutionSource = "Gap"
	// ResolutionEvent means the API server said when the change happened
	// (a watch event on the probed workload).
	ResolutionEvent ResolutionSource = "Event"
	// ResolutionAlert means Prometheus' alert state said when the alert
	// fired (the rule evaluation that made it fire); within is the rule
	// group's evaluation interval, how long the alert's condition may have
	// held before Prometheus evaluated it, or zero when that interval is
	// unknown.
	ResolutionAlert ResolutionSource = "Alert"
	// ResolutionRangeQuery means a range query re-evaluated the Prometheus
	// probes after the fact, at a step of within: the probes' queries
	// crossed, over Prometheus' data, at most within before the first
	// evaluation that saw it. That data is as fresh as its scrapes: the
	// system itself crossed up to one scrape interval earlier.
	ResolutionRangeQuery ResolutionSource = "RangeQuery"
	// ResolutionWebhook means the instant is when Alertmanager's webhook
	// request reached the operator's receiver; within is zero.
	ResolutionWebhook ResolutionSource = "Webhook"
)

// Resolution says how precisely an instant or a figure is known.
type Resolution struct {
	// source is ProbeInterval, Gap, Event, Alert, RangeQuery or Webhook.
	// +required
	Source ResolutionSource `json:"source"`
	// within is how long before the recorded instant the change may have
	// happened; zero for Event.
	// +required
	Within metav1.Duration `json:"within"`
	// gap is the stretch the change happened in, for source Gap.
	// +optional
	Gap *SamplingGap `json:"gap,omitempty"`
}

// InstantResolution is the resolution of one timeline instant.
type InstantResolution struct {
	// instant names the timeline field: deviatedAt, alertedAt, notifiedAt,
	// remediationStartedAt or recoveredAt.
	// +required
	// +kubebuilder:validation:Enum=deviatedAt;alertedAt;notifiedAt;remediationStartedAt;recoveredAt
	Instant    string `json:"instant"`
	Resolution `json:",inline"`
}

// FigureResolution is the resolution of one figure of the result.
type FigureResolution struct {
	// figure names the result field: timeToDetect, timeToRecover or
	// breachToDecision.
	// +required
	// +kubebuilder:validation:Enum=timeToDetect;timeToRecover;breachToDecision
	Figure     string `json:"figure"`
	Resolution `json:",inline"`
}

// DetectionSource says what detected the fault.
// +kubebuilder:validation:Enum=Alert;Probe
type DetectionSource string

const (
	// DetectedByAlert means one of detection.alerts fired.
	DetectedByAlert DetectionSource = "Alert"
	// DetectedByProbe means a steady-state probe failed.
	DetectedByProbe DetectionSource = "Probe"
)

// ObjectiveStatus is Met, Missed or NotMeasured.
// +kubebuilder:validation:Enum=Met;Missed;NotMeasured
type ObjectiveStatus string

const (
	// ObjectiveMet means the measured time is within the objective.
	ObjectiveMet ObjectiveStatus = "Met"
	// ObjectiveMissed means the measured time exceeds it, or never came.
	ObjectiveMissed ObjectiveStatus = "Missed"
	// ObjectiveNotMeasured means the run ended before the figure could be measured.
	ObjectiveNotMeasured ObjectiveStatus = "NotMeasured"
)

// ObjectiveResult is one objective judged.
type ObjectiveResult struct {
	// name of the objective: detectWithin, notifyWithin or recoverWithin.
	// +required
	Name string `json:"name"`
	// target is the objective's limit.
	// +required
	Target metav1.Duration `json:"target"`
	// measured is the figure the run measured.
	// +optional
	Measured *metav1.Duration `json:"measured,omitempty"`
	// status is Met, Missed or NotMeasured.
	// +required
	Status ObjectiveStatus `json:"status"`
}

// RunResult holds the figures of a run.
type RunResult struct {
	// timeToDetect is detection instant minus injectedAt.
	// +optional
	TimeToDetect *metav1.Duration `json:"timeToDetect,omitempty"`
	// detectedBy says whether an alert or a probe detected the fault.
	// +optional
	DetectedBy DetectionSource `json:"detectedBy,omitempty"`
	// timeToNotify is notifiedAt minus injectedAt: from the failure onset
	// to Alertmanager's notification reaching the operator's receiver.
	// +optional
	TimeToNotify *metav1.Duration `json:"timeToNotify,omitempty"`
	// timeToRecover is recoveredAt minus injectedAt; zero when the steady
	// state never deviated (the system absorbed the fault).
	// +optional
	TimeToRecover *metav1.Duration `json:"timeToRecover,omitempty"`
	// timeToRemediate is remediationStartedAt minus injectedAt: how long
	// automatic remediation took to begin.
	// +optional
	TimeToRemediate *metav1.Duration `json:"timeToRemediate,omitempty"`
	// resolutions say, figure by figure, how precisely each is known: to
	// the probe interval, to the length of a gap it fell in, exactly from a
	// watch event, and so on. Each of timeToDetect, timeToRecover and
	// breachToDecision the run measured has one.
	// +optional
	// +listType=map
	// +listMapKey=figure
	// +kubebuilder:validation:MaxItems=3
	Resolutions []FigureResolution `json:"resolutions,omitempty"`
	// abortLatency is from the decision to abort (abort.decidedAt) to the
	// revert being done (timeline.revertedAt): how fast Faultline stopped
	// hurting the system once it had decided to. It leaves out a guard's
	// window, which breachToDecision holds. Absent when the fault was
	// already reverted before the abort.
	// +optional
	AbortLatency *metav1.Duration `json:"abortLatency,omitempty"`
	// breachToDecision is from the first bad sample behind the abort
	// (abort.firstBreachAt for a guard, abort.firstErrorAt for probes that
	// stopped answering) to the decision to abort: for a guard, its window
	// plus the wait for the sample that saw the window out. Absent for
	// aborts no sample caused (kill switch, deletion, a request).
	// +optional
	BreachToDecision *metav1.Duration `json:"breachToDecision,omitempty"`
	// objectives judged.
	// +optional
	// +listType=map
	// +listMapKey=name
	Objectives []ObjectiveResult `json:"objectives,omitempty"`
}
