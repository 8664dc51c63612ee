package schedule

import (
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// StageAhead is how long before its schedule time a scheduled run is
// created (staged). The run waits in Pending until its time: when many
// Experiments fall due at once, what is left for that instant is each run's
// start, not its creation, its Experiment's status and an Event.
const StageAhead = 20 * time.Second

// MaxStageAhead bounds how long a run waits for the time in its
// scheduled-at annotation: a run whose annotation names a later time (one
// written by hand, say) starts at once as if it had none.
const MaxStageAhead = time.Minute

// StagedUntil returns the schedule time a staged run waits for, and whether
// it must still wait at now: its scheduled-at annotation names a time after
// now and at most MaxStageAhead ahead.
func StagedUntil(annotations map[string]string, now time.Time) (time.Time, bool) {
	at, err := time.Parse(time.RFC3339, annotations[chaosv1alpha1.ScheduledAtAnnotation])
	if err != nil || !at.After(now) || at.Sub(now) > MaxStageAhead {
		return time.Time{}, false
	}
	return at, true
}
