package schedule

import (
	"errors"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// SpecProblems lists what is wrong with an Experiment's schedule, time zone
// and windows, each message starting with the field it is about. It is the
// one rule the admission webhook refuses by and the Experiment controller
// marks a stored Experiment Stalled by, so the two never disagree about a
// schedule or word it differently.
func SpecProblems(spec *chaosv1alpha1.ExperimentSpec) []string {
	var out []string
	if _, err := LoadLocation(spec.TimeZone); err != nil {
		// The schedule and the windows are read in it: nothing more can
		// be said of them.
		return []string{"spec.timeZone: " + err.Error()}
	}
	if spec.Schedule != "" {
		if _, err := Parse(spec.Schedule, spec.TimeZone); err != nil {
			msg := err.Error()
			if strings.HasPrefix(msg, "schedule ") {
				out = append(out, "spec."+msg)
			} else {
				out = append(out, "spec.schedule: "+msg)
			}
		}
	}
	if err := ValidateWindows(spec.Windows); err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			for _, e := range joined.Unwrap() {
				out = append(out, e.Error())
			}
		} else {
			out = append(out, err.Error())
		}
	}
	return out
}
