package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ErrInvalidWindow is wrapped by every error about a time window or a
// blackout window.
var ErrInvalidWindow = errors.New("invalid time window")

// searchDays is how far NextWindowOpen and NextBlackoutEnd look ahead.
// Windows repeat weekly, so eight days (one for a window that opened
// yesterday and crosses midnight) hold every opening and closing there is.
const searchDays = 8

// weekdays maps the API's day names to Go's.
var weekdays = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// window is a TimeWindow read once: minutes since midnight and a day set.
type window struct {
	days       [7]bool // indexed by time.Weekday
	start, end int     // minutes since midnight; end < start crosses midnight
}

// compileWindow reads a TimeWindow. The API validates the format already;
// this validates again because a window that cannot be read must never be
// taken to mean "always open".
func compileWindow(w chaosv1alpha1.TimeWindow) (window, error) {
	var out window
	var err error
	if out.start, err = parseClock(w.Start); err != nil {
		return window{}, within("start", -1, err)
	}
	if out.end, err = parseClock(w.End); err != nil {
		return window{}, within("end", -1, err)
	}
	if out.start == out.end {
		e := invalidValue(ErrInvalidWindow, w.End, `start and end are the same: they must differ; to allow the whole day, use start "00:00" and end "23:59"`,
			`start and end are both %q: they must differ; to allow the whole day, use start "00:00" and end "23:59"`, w.Start)
		e.child = "end"
		return window{}, e
	}
	if len(w.Days) == 0 {
		out.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, day := range w.Days {
		weekday, ok := weekdays[strings.ToLower(string(day))]
		if !ok {
			e := invalidValue(ErrInvalidWindow, string(day), "use Mon, Tue, Wed, Thu, Fri, Sat or Sun", "unknown day %q: use Mon, Tue, Wed, Thu, Fri, Sat or Sun", day)
			e.typ, e.child, e.index = field.ErrorTypeNotSupported, "days", i
			return window{}, e
		}
		out.days[weekday] = true
	}
	return out, nil
}

// parseClock reads "HH:MM" (24-hour) into minutes since midnight.
func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigits(s[:2]) || !isDigits(s[3:]) {
		return 0, invalidValue(ErrInvalidWindow, s, `is not a time of day: write "HH:MM" on the 24-hour clock, such as "09:30"`,
			`%q is not a time of day: write "HH:MM" on the 24-hour clock, such as "09:30"`, s)
	}
	hour := int(s[0]-'0')*10 + int(s[1]-'0')
	minute := int(s[3]-'0')*10 + int(s[4]-'0')
	if hour > 23 {
		return 0, invalidValue(ErrInvalidWindow, s, `the hour must be 00 to 23; midnight is "00:00"`, `%q: the hour must be 00 to 23; midnight is "00:00"`, s)
	}
	if minute > 59 {
		return 0, invalidValue(ErrInvalidWindow, s, `the minutes must be 00 to 59`, `%q: the minutes must be 00 to 59`, s)
	}
	return hour*60 + minute, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// contains reports whether the wall-clock time wall (already in the
// window's zone) is inside the window. End is exclusive. A window crossing
// midnight is open from start on one of its days until end on the next day,
// so a Fri 22:00–02:00 window holds Saturday 01:00 but not Friday 01:00.
func (w window) contains(wall time.Time) bool {
	minute := wall.Hour()*60 + wall.Minute()
	day := wall.Weekday()
	if w.start < w.end {
		return w.days[day] && minute >= w.start && minute < w.end
	}
	yesterday := (day + 6) % 7
	return (w.days[day] && minute >= w.start) || (w.days[yesterday] && minute < w.end)
}

// compileWindows reads every window and joins the errors, each prefixed
// with its path so the message points at the field to fix.
func compileWindows(windows []chaosv1alpha1.TimeWindow, path string) ([]window, error) {
	out := make([]window, 0, len(windows))
	var errs []error
	for i, w := range windows {
		compiled, err := compileWindow(w)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", path, i, err))
			continue
		}
		out = append(out, compiled)
	}
	return out, errors.Join(errs...)
}

// ValidateWindows returns an error, wrapping ErrInvalidWindow, naming every
// window of spec.windows that cannot be read. InWindows treats such a
// window as never open, so the controller reports this error rather than
// leaving the user to wonder why no run starts.
func ValidateWindows(windows []chaosv1alpha1.TimeWindow) error {
	_, err := compileWindows(windows, "spec.windows")
	return err
}

// InWindows reports whether t falls inside one of windows, read on the wall
// clock of loc (nil: UTC). No windows means any time. A window that cannot
// be read is never open (see ValidateWindows): a chaos tool that cannot
// tell when it may run must not run.
func InWindows(windows []chaosv1alpha1.TimeWindow, loc *time.Location, t time.Time) bool {
	if len(windows) == 0 {
		return true
	}
	compiled, _ := compileWindows(windows, "spec.windows")
	return anyContains(compiled, t.In(orUTC(loc)))
}

func anyContains(windows []window, wall time.Time) bool {
	for _, w := range windows {
		if w.contains(wall) {
			return true
		}
	}
	return false
}

// NextWindowOpen returns the earliest instant at or after t inside one of
// windows: t itself when a window is open at t (or there are no windows),
// else the instant the next one opens, for the controller to requeue at.
// ok is false when no window ever opens (every window unreadable).
//
// On a spring-forward day a window opening inside the gap opens when the
// clocks jump (03:00 in Europe/Berlin for a 02:30 start); on a fall-back day
// a window in the repeated hour opens again in its second pass.
func NextWindowOpen(windows []chaosv1alpha1.TimeWindow, loc *time.Location, t time.Time) (time.Time, bool) {
	if len(windows) == 0 {
		return t, true
	}
	loc = orUTC(loc)
	compiled, _ := compileWindows(windows, "spec.windows")
	if len(compiled) == 0 {
		return time.Time{}, false
	}
	open := func(at time.Time) bool { return anyContains(compiled, at.In(loc)) }
	if open(t) {
		return t, true
	}
	var candidates []time.Time
	for _, w := range compiled {
		candidates = appendWallTimes(candidates, loc, t, w.start)
	}
	candidates = appendTransitions(candidates, loc, t)
	return firstAfter(candidates, t, open)
}

// InBlackout reports whether t falls in one of the ChaosPolicy's blackout
// windows, each read in its own zone (nil or empty: UTC), and the index of
// the first that does, for the message; -1 when none does. A blackout that
// cannot be read (unknown zone, bad time) counts as in force: when in doubt,
// no chaos. ValidateBlackouts says which one and why.
func InBlackout(windows []chaosv1alpha1.BlackoutWindow, t time.Time) (bool, int) {
	for i, b := range windows {
		loc, err := LoadLocation(b.TimeZone)
		if err != nil {
			return true, i
		}
		w, err := compileWindow(b.TimeWindow)
		if err != nil || w.contains(t.In(loc)) {
			return true, i
		}
	}
	return false, -1
}

// ValidateBlackouts returns an error naming every blackout window of the
// ChaosPolicy that cannot be read, wrapping ErrInvalidWindow or
// ErrInvalidTimeZone. InBlackout treats such a window as always in force.
func ValidateBlackouts(windows []chaosv1alpha1.BlackoutWindow) error {
	var errs []error
	for i, b := range windows {
		if _, err := LoadLocation(b.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("spec.blackoutWindows[%d].timeZone: %w", i, err))
		}
		if _, err := compileWindow(b.TimeWindow); err != nil {
			errs = append(errs, fmt.Errorf("spec.blackoutWindows[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// BlackoutErrors is ValidateBlackouts as field errors on path (the
// ChaosPolicy's spec.blackoutWindows), for admission: each names the part
// of its window it is about, the value, and what to write instead.
func BlackoutErrors(windows []chaosv1alpha1.BlackoutWindow, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, b := range windows {
		if _, err := LoadLocation(b.TimeZone); err != nil {
			errs = append(errs, fieldError(path.Index(i).Child("timeZone"), *b.TimeZone, err))
		}
		if _, err := compileWindow(b.TimeWindow); err != nil {
			errs = append(errs, fieldError(path.Index(i), "", err))
		}
	}
	return errs
}

// windowErrors is ValidateWindows as field errors on path (spec.windows).
func windowErrors(windows []chaosv1alpha1.TimeWindow, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, w := range windows {
		if _, err := compileWindow(w); err != nil {
			errs = append(errs, fieldError(path.Index(i), "", err))
		}
	}
	return errs
}

// NextBlackoutEnd returns the earliest instant at or after t outside every
// blackout window: t itself when none is in force, else when the last
// overlapping one ends, for the controller to requeue at. ok is false when
// the blackouts never end (they cover the whole week, or one cannot be
// read).
func NextBlackoutEnd(windows []chaosv1alpha1.BlackoutWindow, t time.Time) (time.Time, bool) {
	free := func(at time.Time) bool {
		in, _ := InBlackout(windows, at)
		return !in
	}
	if free(t) {
		return t, true
	}
	if ValidateBlackouts(windows) != nil {
		return time.Time{}, false
	}
	var candidates []time.Time
	for _, b := range windows {
		loc, _ := LoadLocation(b.TimeZone)
		w, _ := compileWindow(b.TimeWindow)
		candidates = appendWallTimes(candidates, loc, t, w.end)
		candidates = appendTransitions(candidates, loc, t)
	}
	return firstAfter(candidates, t, free)
}

// appendWallTimes appends every instant, from the day before t to
// searchDays after it, whose wall clock in loc reads minuteOfDay. A
// wall-clock time can name two instants (the repeated hour of a fall-back
// day), and time.Date returns only one of them, so the other is added too.
// A time in a spring-forward gap names none; time.Date returns an instant
// after the gap that the callers' checks reject, and the jump itself comes
// from appendTransitions.
func appendWallTimes(out []time.Time, loc *time.Location, t time.Time, minuteOfDay int) []time.Time {
	local := t.In(loc)
	year, month, day := local.Date()
	for offset := -1; offset <= searchDays; offset++ {
		at := time.Date(year, month, day+offset, minuteOfDay/60, minuteOfDay%60, 0, 0, loc)
		out = append(out, at)
		_, offsetHere := at.Zone()
		zoneStart, zoneEnd := at.ZoneBounds()
		if !zoneEnd.IsZero() {
			_, offsetAfter := zoneEnd.Zone()
			out = appendSameWall(out, at, at.Add(time.Duration(offsetHere-offsetAfter)*time.Second))
		}
		if !zoneStart.IsZero() {
			_, offsetBefore := zoneStart.Add(-time.Nanosecond).Zone()
			out = appendSameWall(out, at, at.Add(time.Duration(offsetHere-offsetBefore)*time.Second))
		}
	}
	return out
}

// appendSameWall appends other when it reads the same wall-clock minute as
// at: then both are passes of that minute.
func appendSameWall(out []time.Time, at, other time.Time) []time.Time {
	if other.Equal(at) {
		return out
	}
	a, b := at, other.In(at.Location())
	if a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() && a.Minute() == b.Minute() {
		out = append(out, other)
	}
	return out
}

// appendTransitions appends the instants loc changes its offset in the
// search range: at a spring-forward jump a window can open (or a blackout
// end) at a wall-clock time no window names.
func appendTransitions(out []time.Time, loc *time.Location, t time.Time) []time.Time {
	horizon := t.AddDate(0, 0, searchDays+1)
	for _, zoneEnd := t.In(loc).ZoneBounds(); !zoneEnd.IsZero() && zoneEnd.Before(horizon); _, zoneEnd = zoneEnd.ZoneBounds() {
		out = append(out, zoneEnd)
	}
	return out
}

// firstAfter returns the earliest candidate after t that satisfies ok.
func firstAfter(candidates []time.Time, t time.Time, ok func(time.Time) bool) (time.Time, bool) {
	slices.SortFunc(candidates, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range candidates {
		if c.After(t) && ok(c) {
			return c, true
		}
	}
	return time.Time{}, false
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
