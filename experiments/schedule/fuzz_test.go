package schedule

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary schedules and zones. It must never panic
// (robfig/cron v3.0.1 does on some inputs), and whatever it accepts must
// plan without error and fire after now. Plain `go test` runs the seeds;
// `go test -fuzz FuzzParse ./experiments/schedule` searches further.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ schedule, zone string }{
		{"0 14 * * TUE", "Asia/Seoul"},
		{"*/5 * * * *", ""},
		{"@every 20s", ""},
		{"@every 1h30m", "Europe/Berlin"},
		{"@hourly", "America/New_York"},
		{"30 6-16/4 * * 1-5", "UTC"},
		{"0 0 29 2 *", ""},
		{"0 0 30 2 *", ""},
		{"TZ=UTC", ""},
		{"TZ=", ""},
		{"CRON_TZ=Asia/Seoul 0 14 * * *", ""},
		{"@every", ""},
		{"@every ", ""},
		{"@every -1s", ""},
		{"1-2/0 * * * *", ""},
		{"5-1 * * * *", ""},
		{"* * * * * *", ""},
		{"99999999999999999999 * * * *", ""},
		{"0 14 * * TUE", "Mars/Base"},
		{"0 14 * * TUE", "../../etc/passwd"},
		{"0 14 * * TUE", "Local"},
	} {
		f.Add(seed.schedule, seed.zone)
	}
	now := time.Date(2026, 3, 13, 22, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, schedule, zone string) {
		sched, err := Parse(schedule, &zone)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchedule) && !errors.Is(err, ErrInvalidTimeZone) {
				t.Fatalf("Parse(%q, %q) error %v wraps neither ErrInvalidSchedule nor ErrInvalidTimeZone", schedule, zone, err)
			}
			return
		}
		if next := Next(sched, now); !next.IsZero() && !next.After(now) {
			t.Fatalf("Next(%q) = %v, not after %v", schedule, next, now)
		}
		if _, err := Plan(PlanInput{Schedule: schedule, TimeZone: &zone, CreationTime: now.AddDate(-1, 0, 0)}, now); err != nil {
			t.Fatalf("Parse(%q, %q) succeeded but Plan failed: %v", schedule, zone, err)
		}
	})
}
