package v1alpha1

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
	// RunNowByAnnotation on an Experiment records, as JSON, who set the
	// current run-now value and that value ({"token": ..., "requester":
	// {...}}). Only the admission webhook writes it; the run started for
	// that token records that user as its requester.
	RunNowByAnnotation = "chaos.faultline.dev/run-now-by"
	// SpecHashAnnotation on a run holds the SHA-256 of the spec snapshot the
	// run took (status.experiment), written by the operator when it takes
	// the snapshot. Only the operator may write it: a status edited by
	// anyone else no longer matches it, and the run is ended.
	SpecHashAnnotation = "chaos.faultline.dev/spec-hash"
	// SpecAuthorAnnotation on a run holds the user name of whoever last
	// changed the spec the run took (its Experiment's requested-by), written
	// by the operator with SpecHashAnnotation. An approver must be another
	// person.
	SpecAuthorAnnotation = "chaos.faultline.dev/spec-author"
	// ApprovedSpecAnnotation on a run records the hash of the spec the
	// approver approved, written by the admission webhook with the
	// approval. The run starts only when the snapshot it injects has that
	// hash, so an edit after approval voids the approval.
	ApprovedSpecAnnotation = "chaos.faultline.dev/approved-spec"
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
