package schedule

import (
	"math"
	"time"
)

// PlanInput is what Plan needs from an Experiment, copied out of it so that
// this package stays free of API-server types.
type PlanInput struct {
	// Schedule is spec.schedule. Plan is for scheduled Experiments: the
	// caller does not call it when spec.schedule is empty.
	Schedule string
	// TimeZone is spec.timeZone; nil or empty means UTC.
	TimeZone *string
	// LastScheduleTime is status.lastScheduleTime: the schedule time of the
	// newest run created for the schedule. Nil when none was.
	LastScheduleTime *time.Time
	// CreationTime is metadata.creationTimestamp. Without a
	// LastScheduleTime it bounds how far back runs are due, so that a new
	// Experiment does not start a run for a time before it existed.
	CreationTime time.Time
	// StartingDeadlineSeconds is spec.startingDeadlineSeconds; nil means a
	// late run may start however late it is.
	StartingDeadlineSeconds *int64
}

// PlanResult is what the controller does about the schedule now.
type PlanResult struct {
	// ScheduledTime is the schedule time to start a run for now, nil when
	// none is due. The run is named with RunName(name, *ScheduledTime) and
	// status.lastScheduleTime set to it.
	ScheduledTime *time.Time
	// TooLate reports that a run was due but its starting deadline has
	// passed: it is skipped, not started.
	TooLate bool
	// SkippedTime is the schedule time that TooLate skipped, for the event
	// that tells the user; nil unless TooLate. Until a run is created, or
	// the controller records the skip, every reconcile before Next reports
	// the same skip again, so announce it once per SkippedTime.
	SkippedTime *time.Time
	// Missed is how many schedule times since the last scheduled run (or
	// creation) get no run of their own: the ones a stopped controller
	// slept through, plus SkippedTime. Zero when the schedule is kept.
	// Exact up to TooManyMissedThreshold, an estimate above it.
	Missed int
	// TooManyMissed reports more than TooManyMissedThreshold missed times:
	// the controller was down for long, or a clock (the operator's or the
	// API server's, which stamped creationTimestamp) is wrong. The
	// controller warns; nothing is replayed either way.
	TooManyMissed bool
	// Next is the first schedule time after now, in the schedule's zone,
	// for status.nextScheduleTime; the zero time when there is none within
	// five years.
	Next time.Time
	// RequeueAfter is when to reconcile again for Next, slack included;
	// zero means no requeue is needed for the schedule.
	RequeueAfter time.Duration
}

// Plan decides what the schedule asks for at now: start a run for the most
// recent unmet schedule time, skip it because its starting deadline passed,
// or wait until Next. Windows, blackouts, suspend and the concurrency policy
// are the caller's to apply to ScheduledTime; a run they hold back is simply
// not created, so the same time is due again at the next reconcile until its
// deadline passes or a newer schedule time replaces it.
//
// Errors wrap ErrInvalidSchedule or ErrInvalidTimeZone and are terminal for
// the Experiment until its spec changes.
func Plan(in PlanInput, now time.Time) (PlanResult, error) {
	sched, err := Parse(in.Schedule, in.TimeZone)
	if err != nil {
		return PlanResult{}, err
	}
	earliest := in.CreationTime
	if in.LastScheduleTime != nil {
		earliest = *in.LastScheduleTime
	}

	// Unlike the CronJob controller, earliest is not first moved up to
	// now-startingDeadlineSeconds. Doing so hides every time past its
	// deadline, so a skipped run would vanish without a word; counting from
	// the last run finds it and reports it as TooLate. MostRecentMissed is
	// cheap however far back earliest is, which is what the CronJob
	// controller's bound protects.
	mostRecent, unmet, next, err := walk(sched, earliest, now)
	if err != nil {
		return PlanResult{}, err
	}

	// next follows the most recent schedule time, not now: that keeps an
	// "@every" schedule on its own beat, and cron schedules give the same
	// answer either way.
	result := PlanResult{Next: next}
	if !mostRecent.IsZero() {
		if late(mostRecent, now, in.StartingDeadlineSeconds) {
			result.TooLate = true
			result.SkippedTime = &mostRecent
			result.Missed = unmet
		} else {
			result.ScheduledTime = &mostRecent
			result.Missed = unmet - 1
		}
	}
	result.TooManyMissed = result.Missed > TooManyMissedThreshold
	result.RequeueAfter = RequeueAfter(result.Next, now)
	return result, nil
}

// late reports whether a run for scheduled can no longer start at now.
// Lateness is compared in whole seconds, the unit of the deadline: a
// reconcile arrives a fraction of a second after the time it was queued for
// (RequeueSlack, at least), and with startingDeadlineSeconds 0 a strict
// comparison would skip every run.
func late(scheduled, now time.Time, deadlineSeconds *int64) bool {
	if deadlineSeconds == nil {
		return false
	}
	deadline := max(*deadlineSeconds, 0)
	if deadline > math.MaxInt64/int64(time.Second) {
		return false // longer than any time.Duration: never late
	}
	lateness := now.Sub(scheduled).Truncate(time.Second)
	return lateness > time.Duration(deadline)*time.Second
}
