// Package schedule decides when an Experiment's scheduled runs start. It is
// pure: every function takes the instant it reasons about (now) as an
// argument, so the controller reads its clock once per reconcile and tests
// pin every instant.
//
// The semantics follow the Kubernetes CronJob controller: a run is due for
// the most recent schedule time after the last one that got a run (or after
// the Experiment's creation); older unmet times are missed, not replayed; a
// run that cannot start within startingDeadlineSeconds of its time is
// skipped; and runs are named after their scheduled time so that creating one
// twice, after a crash or a leader change, finds the first instead of
// starting a second.
//
// # Time zones and daylight saving time
//
// Cron schedules and windows are read on the wall clock of spec.timeZone
// (UTC when unset). With robfig/cron v3.0.1 that has two consequences on the
// days the clocks change, pinned by the tests in America/New_York,
// Europe/Berlin and Asia/Seoul:
//
//   - Spring forward: a wall-clock time that does not exist that day does not
//     fire that day. A daily "30 2 * * *" job in Europe/Berlin does not run on
//     29 March 2026 (02:00 jumps to 03:00); the next run is 02:30 on 30 March.
//     Vixie and ISC cron would run it right after the jump; robfig skips it.
//     Hourly schedules simply have one run fewer.
//   - Fall back: a wall-clock time in the repeated hour fires twice. The same
//     job runs at 02:30 CEST and again at 02:30 CET on 25 October 2026.
//
// Schedules that must run exactly once a day belong outside 01:00–03:00
// local time, or in a zone without daylight saving time (Asia/Seoul, UTC).
// "@every" schedules ignore time zones: they count real elapsed time from the
// last scheduled run.
//
// Windows behave the same way: a window's minutes that fall in a
// spring-forward gap never happen, and a window covering the repeated hour
// is open during both passes of it.
//
// # Use from the controller
//
// Plan says whether a run is due (ScheduledTime), skipped (TooLate) or
// neither, and when to look again. Suspend, the concurrency policy,
// InWindows and InBlackout then gate the start; a gated run is not created,
// and the controller requeues at the earliest of PlanResult.RequeueAfter,
// NextWindowOpen and NextBlackoutEnd. ValidateWindows and ValidateBlackouts
// turn unreadable windows, which the gates treat as closed, into messages.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	// tzdata is the fallback zone database for images that ship without
	// /usr/share/zoneinfo (scratch, some distroless bases). Without it every
	// spec.timeZone but UTC would be rejected there while it passes on a
	// laptop, and an Experiment's validity must not depend on the image.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ErrInvalidSchedule is wrapped by every error about spec.schedule. The
// controller treats it as terminal: only an edit by the user fixes it.
var ErrInvalidSchedule = errors.New("invalid schedule")

// ErrInvalidTimeZone is wrapped by every error about a time zone name.
// Terminal, like ErrInvalidSchedule.
var ErrInvalidTimeZone = errors.New("invalid time zone")

// TooManyMissedThreshold is the number of missed runs above which a plan
// reports TooManyMissed, the CronJob controller's limit. Above it the count
// is an estimate, so a clock that is years off cannot make planning walk
// through every schedule time in between.
const TooManyMissedThreshold = 100

// exactCountLimit is how many schedule times MostRecentMissed walks one by
// one before it estimates the rest: enough to decide TooManyMissedThreshold
// on an exact count, whether or not the most recent time gets a run.
const exactCountLimit = TooManyMissedThreshold + 2

// RequeueSlack is added to every requeue delay, as the CronJob controller
// does, so that a reconcile triggered by a timer that fires a little early
// (or a clock a little behind) still finds the scheduled time has passed,
// instead of finding nothing due and waiting a whole period.
const RequeueSlack = 100 * time.Millisecond

// parser accepts the five standard fields and descriptors (@hourly, @daily,
// @every 30m), the syntax spec.schedule documents. No seconds field: that
// would make "0 14 * * TUE" mean something else to cron-literate users.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// neverFiresReference is the instant Parse asks a schedule to fire after, to
// reject schedules such as "0 0 30 2 *" that match no date at all. A fixed
// instant keeps Parse pure; 2000 is a leap year, so "29 February" passes.
var neverFiresReference = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// scheduleHint ends every syntax error, so the message says what to write.
const scheduleHint = `write five fields (minute hour day-of-month month day-of-week) such as "0 14 * * TUE", or a descriptor such as "@daily" or "@every 30m"`

// Schedule is a parsed spec.schedule bound to its time zone. The zero value
// never fires; use Parse.
type Schedule struct {
	spec string
	loc  *time.Location
	// cron is a five-field schedule or descriptor other than "@every",
	// with Location set to loc; nil for "@every".
	cron *cron.SpecSchedule
	// every is the period of an "@every" schedule, zero for the others; it
	// lets MostRecentMissed count missed runs by division.
	every time.Duration
}

// String returns the schedule as the user wrote it.
func (s Schedule) String() string { return s.spec }

// Location returns the time zone the schedule is read in; UTC for the zero
// Schedule.
func (s Schedule) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// invalidError carries a message written for the user while still matching
// its sentinel with errors.Is, so the message does not have to start with
// the sentinel's text.
type invalidError struct {
	kind error
	msg  string
	// The same message for a field error (see fieldError), when detail is
	// set: the value refused, what is wrong with it and what to write
	// instead (without the value, which the field error shows), the error
	// type, and the part of the field checked that the value is, such as
	// a window's "start" or days[1] ("" and -1: the field itself).
	value  string
	detail string
	typ    field.ErrorType
	child  string
	index  int
}

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return e.kind }

func invalid(kind error, format string, args ...any) error {
	return &invalidError{kind: kind, msg: fmt.Sprintf(format, args...), index: -1}
}

// invalidValue is invalid with the parts of a field error: value is
// refused for detail.
func invalidValue(kind error, value, detail, format string, args ...any) *invalidError {
	return &invalidError{kind: kind, msg: fmt.Sprintf(format, args...), value: value, detail: detail, typ: field.ErrorTypeInvalid, index: -1}
}

// within returns err, an error about part child (index: item of a list,
// -1: none) of the field checked, with its message prefixed "child: ".
func within(child string, index int, err error) error {
	var ie *invalidError
	if !errors.As(err, &ie) {
		return fmt.Errorf("%s: %w", child, err)
	}
	out := *ie
	out.msg = child + ": " + ie.msg
	out.child, out.index = child, index
	return &out
}

// fieldError returns err, from this package, as a field error on path,
// the field whose value was value: on the part of path it is about, with
// the value and what to write. An error without those parts is Invalid on
// path, its message the detail.
func fieldError(path *field.Path, value string, err error) *field.Error {
	var ie *invalidError
	if !errors.As(err, &ie) || ie.detail == "" {
		return field.Invalid(path, value, err.Error())
	}
	if ie.child != "" {
		path = path.Child(ie.child)
		if ie.index >= 0 {
			path = path.Index(ie.index)
		}
	}
	switch ie.typ {
	case field.ErrorTypeRequired:
		return field.Required(path, ie.detail)
	case field.ErrorTypeNotSupported:
		// field.NotSupported would replace the detail by a list of the
		// values, which the detail already names.
		return &field.Error{Type: field.ErrorTypeNotSupported, Field: path.String(), BadValue: ie.value, Detail: ie.detail}
	}
	return field.Invalid(path, ie.value, ie.detail)
}

// locations caches loaded zones by name: time.LoadLocation reads and parses
// a zoneinfo file on every call, and the controller plans every scheduled
// Experiment on every resync. A *time.Location is immutable, and the set of
// valid names is finite, so the cache is safe and bounded; invalid names are
// not cached.
var locations sync.Map

// LoadLocation returns the zone named by an IANA time zone name such as
// Asia/Seoul; nil or empty means UTC. An unknown name is an error wrapping
// ErrInvalidTimeZone, never a silent fallback to UTC: a game day planned for
// 14:00 in Seoul must not run at 14:00 UTC.
func LoadLocation(timeZone *string) (*time.Location, error) {
	if timeZone == nil || *timeZone == "" {
		return time.UTC, nil
	}
	name := *timeZone
	if cached, ok := locations.Load(name); ok {
		return cached.(*time.Location), nil
	}
	if name == "Local" {
		// time.LoadLocation accepts "Local" and returns the operator host's
		// zone, which would move the schedule with the Pod's image.
		return nil, invalidValue(ErrInvalidTimeZone, name, "is the operator host's zone, not a fixed one: use an IANA name such as Europe/Berlin",
			"time zone %q is the operator host's zone, not a fixed one: use an IANA name such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalidValue(ErrInvalidTimeZone, name, "unknown time zone: use an IANA name such as Europe/Berlin",
			"unknown time zone %q: use an IANA name such as Europe/Berlin", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// Parse reads a schedule in robfig/cron's standard five-field syntax or a
// descriptor (@hourly, @daily, @weekly, @monthly, @yearly, "@every 30m"),
// in the IANA time zone timeZone (nil or empty: UTC). Errors wrap
// ErrInvalidSchedule or ErrInvalidTimeZone and say what to write instead.
func Parse(schedule string, timeZone *string) (Schedule, error) {
	loc, err := LoadLocation(timeZone)
	if err != nil {
		return Schedule{}, err
	}
	spec := strings.TrimSpace(schedule)
	if spec == "" {
		e := invalidValue(ErrInvalidSchedule, schedule, scheduleHint, "schedule is empty: %s", scheduleHint)
		e.typ = field.ErrorTypeRequired
		return Schedule{}, e
	}
	upper := strings.ToUpper(spec)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		// Two places for one setting disagree sooner or later; CronJob
		// rejects the prefix for the same reason.
		return Schedule{}, invalidValue(ErrInvalidSchedule, schedule, "sets its time zone with TZ= or CRON_TZ=: remove the prefix and set spec.timeZone instead",
			"schedule %q sets its time zone with TZ= or CRON_TZ=: remove the prefix and set spec.timeZone instead", schedule)
	}
	if spec == "@every" || strings.HasPrefix(spec, "@every ") {
		// Read here rather than by robfig, which rounds and truncates the
		// duration without a word (see parseEvery).
		every, err := parseEvery(spec)
		if err != nil {
			return Schedule{}, invalidValue(ErrInvalidSchedule, schedule, err.Error(), "schedule %q: %v", schedule, err)
		}
		return Schedule{spec: schedule, loc: loc, every: every}, nil
	}
	parsed, err := parseCron(spec)
	if err != nil {
		return Schedule{}, invalidValue(ErrInvalidSchedule, schedule, err.Error()+": "+scheduleHint, "schedule %q: %v: %s", schedule, err, scheduleHint)
	}
	fields, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, invalidValue(ErrInvalidSchedule, schedule, fmt.Sprintf("unsupported kind %T: %s", parsed, scheduleHint),
			"schedule %q: unsupported kind %T: %s", schedule, parsed, scheduleHint)
	}
	// robfig sets time.Local, which it reads as "the zone of the time passed
	// to Next". Binding the zone here means no caller can forget to convert,
	// and the host's zone never leaks in.
	bound := *fields
	bound.Location = loc
	if bound.Next(neverFiresReference).IsZero() {
		return Schedule{}, invalidValue(ErrInvalidSchedule, schedule, "never fires: no date matches its day-of-month and month (such as 30 February)",
			"schedule %q never fires: no date matches its day-of-month and month (such as 30 February)", schedule)
	}
	return Schedule{spec: schedule, loc: loc, cron: &bound}, nil
}

// parseCron calls robfig's parser, turning a panic into an error: v3.0.1
// panics on some malformed input (a "TZ=" prefix without a following space
// slices out of range), and a typo in one Experiment must not crash the
// operator for all of them. Parse rejects that prefix first; the recover is
// for the cases nobody has found yet.
func parseCron(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("unreadable (%v)", r)
		}
	}()
	return parser.Parse(spec)
}

// parseEvery reads the duration of an "@every" descriptor. robfig silently
// rounds anything under a second (including zero and negative durations) up
// to one second and drops fractions of a second; a user who wrote
// "@every -5m" or "@every 1.5s" meant something else, so both are errors.
func parseEvery(spec string) (time.Duration, error) {
	raw := strings.TrimSpace(strings.TrimPrefix(spec, "@every"))
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf(`"@every" needs a duration such as "30m" or "1h30m": %w`, err)
	}
	if d < time.Second {
		return 0, fmt.Errorf(`"@every %s" is shorter than the shortest period, one second: use a duration such as "30m"`, raw)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf(`"@every %s" has a fraction of a second, which cron cannot keep: use whole seconds`, raw)
	}
	return d, nil
}

// Next returns the first schedule time strictly after now, in the
// schedule's zone, or the zero time when there is none within five years
// (the limit of robfig/cron's search), or for the zero Schedule.
//
// An "@every" schedule counts from now here. The controller wants the next
// time counted from the last scheduled run instead; Plan does that.
func Next(sched Schedule, now time.Time) time.Time {
	at := now.In(sched.Location())
	switch {
	case sched.every > 0:
		return cron.ConstantDelaySchedule{Delay: sched.every}.Next(at)
	case sched.cron != nil:
		return nextWallClock(sched.cron, at)
	}
	return time.Time{}
}

// fixedZones caches time.FixedZone by UTC offset in seconds, for
// nextWallClock.
var fixedZones sync.Map

// nextWallClock is spec.Next(at), made cheaper. It gives robfig's answer
// for the real zone; the tests compare the two across daylight saving days.
// (One exception, found by that test: after a half-hour change, as in
// Australia/Lord_Howe, robfig's hour steps land on :30 and it skips a day;
// the fixed zone below does not, so there Next is right where robfig is not.)
//
// robfig reads the wall clock dozens of times per call, and in a zone with
// daylight saving time each read past the zone file's last listed change
// (most of them, in the slim files distributions ship) evaluates the zone's
// rule string again. Planning walks missed times, so this is what a resync
// of many Experiments spends its time on. Two changes fix it:
//
//   - Five-field schedules fire only at second 0, yet robfig steps through
//     the rest of the minute second by second. Starting from the minute's
//     last second gives the same answer.
//   - Until the zone's offset next changes, its wall clock is that of a
//     fixed zone with the current offset, which reads in constant time.
//     robfig only examines instants after at, so when the answer in the
//     fixed zone comes before the change, every instant it examined read
//     the same as in the real zone, and the answer is the real one. When it
//     does not (a daylight saving change comes first), the real zone
//     decides.
func nextWallClock(spec *cron.SpecSchedule, at time.Time) time.Time {
	at = at.Add(time.Duration(59-at.Second())*time.Second - time.Duration(at.Nanosecond()))
	_, zoneEnd := at.ZoneBounds()
	if zoneEnd.IsZero() {
		// No change ahead (UTC, Asia/Seoul): the zone already reads fast.
		return spec.Next(at)
	}
	_, offset := at.Zone()
	fixedZone, ok := fixedZones.Load(offset)
	if !ok {
		fixedZone, _ = fixedZones.LoadOrStore(offset, time.FixedZone("", offset))
	}
	fixed := *spec
	fixed.Location = fixedZone.(*time.Location)
	if next := fixed.Next(at); !next.IsZero() && next.Before(zoneEnd) {
		return next.In(spec.Location)
	}
	return spec.Next(at)
}

// RequeueAfter returns how long to wait for next, plus RequeueSlack, and at
// least RequeueSlack so that a time that has just passed is retried at once.
// It returns zero, meaning "do not requeue", when next is the zero time.
func RequeueAfter(next, now time.Time) time.Duration {
	if next.IsZero() {
		return 0
	}
	wait := next.Sub(now)
	if wait < 0 {
		wait = 0
	}
	return wait + RequeueSlack
}

// MostRecentMissed returns the most recent schedule time in (earliest, now]
// and how many schedule times that interval holds, the most recent one
// included: one means the run is on time, more means the older ones were
// missed. It returns the zero time and zero when nothing is due.
//
// earliest is the last scheduled time, or the Experiment's creation time if
// it never ran. The count is exact up to a little over
// TooManyMissedThreshold and an estimate (never below the exact part) above
// it, so an "@every 1s" schedule whose controller was down for a year, or a
// clock decades off, costs microseconds, not millions of iterations; the
// most recent time is always exact.
func MostRecentMissed(sched Schedule, earliest, now time.Time) (mostRecent time.Time, missed int, err error) {
	mostRecent, missed, _, err = walk(sched, earliest, now)
	return mostRecent, missed, err
}

// walk is MostRecentMissed that also returns the schedule time after
// mostRecent (after earliest when nothing is due), which it finds on the
// way and Plan needs next.
func walk(sched Schedule, earliest, now time.Time) (mostRecent time.Time, count int, following time.Time, err error) {
	if sched.cron == nil && sched.every == 0 {
		return time.Time{}, 0, time.Time{}, invalid(ErrInvalidSchedule, "schedule was not parsed: use schedule.Parse")
	}
	first := Next(sched, earliest)
	if first.IsZero() || first.After(now) {
		return time.Time{}, 0, first, nil
	}
	if sched.every > 0 {
		// Consecutive times are exactly one period apart: count by division.
		// In whole seconds (first has none to spare, the period is whole
		// seconds), because a time.Duration overflows past 292 years and a
		// zero creation time must not turn into a wrong answer.
		periodSeconds := int64(sched.every / time.Second)
		periods := (now.Unix() - first.Unix()) / periodSeconds
		mostRecent := time.Unix(first.Unix()+periods*periodSeconds, 0).In(sched.Location())
		return mostRecent, int(periods) + 1, mostRecent.Add(sched.every), nil
	}

	last, count := first, 1
	for {
		following := Next(sched, last)
		if following.IsZero() || following.After(now) {
			return last, count, following, nil
		}
		if count == exactCountLimit {
			break
		}
		last, count = following, count+1
	}

	// More than exactCountLimit times are due. Find the most recent by
	// looking back from now over a span that doubles until it holds a
	// schedule time, then walking forward through that span alone. Starting
	// from the mean period of the times walked so far, the span ends up at
	// most about twice the gap before now, so the walk is short whatever the
	// distance to earliest.
	period := last.Sub(first) / time.Duration(count-1)
	if period < time.Second {
		period = time.Second
	}
	sinceLast := now.Sub(last) // saturates rather than overflows
	span := period
	for {
		from := last
		if span < sinceLast {
			from = now.Add(-span)
		}
		candidate := Next(sched, from)
		if candidate.IsZero() || candidate.After(now) {
			if from.Equal(last) {
				// Unreachable: the loop above found a time after last that
				// is due.
				return last, count, candidate, nil
			}
			if span > sinceLast/2 {
				span = sinceLast // doubling would pass it, or overflow
			} else {
				span *= 2
			}
			continue
		}
		for {
			following := Next(sched, candidate)
			if following.IsZero() || following.After(now) {
				estimate := count + int(candidate.Sub(last)/period)
				if estimate <= count {
					estimate = count + 1
				}
				return candidate, estimate, following, nil
			}
			candidate = following
		}
	}
}
