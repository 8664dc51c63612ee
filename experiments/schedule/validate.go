package schedule

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ValidateSpec returns what is wrong with an Experiment's schedule, time
// zone and windows, as field errors below specPath (the Experiment's
// spec), each with the value refused and what to write instead. It is the
// one rule the admission webhook refuses by and the Experiment controller
// marks a stored Experiment Stalled by, so the two never disagree about a
// schedule or word it differently.
func ValidateSpec(spec *chaosv1alpha1.ExperimentSpec, specPath *field.Path) field.ErrorList {
	if _, err := LoadLocation(spec.TimeZone); err != nil {
		// The schedule and the windows are read in it: nothing more can
		// be said of them.
		return field.ErrorList{fieldError(specPath.Child("timeZone"), *spec.TimeZone, err)}
	}
	var errs field.ErrorList
	if spec.Schedule != "" {
		if _, err := Parse(spec.Schedule, spec.TimeZone); err != nil {
			errs = append(errs, fieldError(specPath.Child("schedule"), spec.Schedule, err))
		}
	}
	return append(errs, windowErrors(spec.Windows, specPath.Child("windows"))...)
}
