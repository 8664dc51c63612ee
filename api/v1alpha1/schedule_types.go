package v1alpha1

// When an Experiment runs: concurrency, windows and approval.

// ConcurrencyPolicy says what the scheduler does when a run is due while an
// earlier run of the same Experiment is still active.
// +kubebuilder:validation:Enum=Forbid;Replace
type ConcurrencyPolicy string

const (
	// ForbidConcurrent skips the due run and records why.
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// ReplaceConcurrent aborts the active run (reverting its fault) and starts the new one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// Weekday is a day of the week in its three-letter English form.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// TimeWindow is a recurring span of wall-clock time on given days of the week.
// A window whose end is before its start crosses midnight: it begins on one of
// its days and ends the next day.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="window start and end must differ; to allow the whole day, use start \"00:00\" and end \"23:59\""
type TimeWindow struct {
	// days on which the window opens. Empty means every day.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days,omitempty"`

	// start is the wall-clock time the window opens, as "HH:MM" (24-hour).
	// +required
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:XValidation:rule="self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')",message="start must be a 24-hour time \"HH:MM\", such as \"09:30\""
	Start string `json:"start"`

	// end is the wall-clock time the window closes, as "HH:MM" (24-hour), exclusive.
	// +required
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:XValidation:rule="self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')",message="end must be a 24-hour time \"HH:MM\", such as \"16:00\""
	End string `json:"end"`
}

// ApprovalSpec says whether a run waits for a person before injecting.
type ApprovalSpec struct {
	// required makes each run wait in phase Pending, with the steady state
	// verified, until it is annotated chaos.faultline.dev/approved=true.
	// +optional
	Required bool `json:"required,omitempty"`
}
