package schedule

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestParse(t *testing.T) {
	tests := map[string]struct {
		schedule string
		timeZone *string
		wantErr  error  // nil: must parse
		wantMsg  string // a fragment the error must contain
		wantZone *time.Location
	}{
		"five fields in a named zone": {
			schedule: "0 14 * * TUE", timeZone: ptr("Asia/Seoul"), wantZone: seoul,
		},
		"no zone is UTC": {
			schedule: "@hourly", wantZone: time.UTC,
		},
		"empty zone is UTC": {
			schedule: "@daily", timeZone: ptr(""), wantZone: time.UTC,
		},
		"@every with a whole duration": {
			schedule: "@every 1h30m", wantZone: time.UTC,
		},
		"invalid zone is an error, not UTC": {
			schedule: "0 14 * * TUE", timeZone: ptr("Mars/Base"),
			wantErr: ErrInvalidTimeZone, wantMsg: `unknown time zone "Mars/Base": use an IANA name such as Europe/Berlin`,
		},
		"the host's Local zone is refused": {
			schedule: "@daily", timeZone: ptr("Local"),
			wantErr: ErrInvalidTimeZone, wantMsg: "use an IANA name",
		},
		"CRON_TZ prefix points to spec.timeZone": {
			schedule: "CRON_TZ=Asia/Seoul 0 14 * * TUE",
			wantErr:  ErrInvalidSchedule, wantMsg: "set spec.timeZone instead",
		},
		"TZ prefix without a space is an error, not a panic": {
			schedule: "TZ=UTC",
			wantErr:  ErrInvalidSchedule, wantMsg: "spec.timeZone",
		},
		"lowercase tz prefix is caught too": {
			schedule: "cron_tz=UTC 0 14 * * *",
			wantErr:  ErrInvalidSchedule, wantMsg: "spec.timeZone",
		},
		"a seconds field is refused with the five-field form": {
			schedule: "0 0 14 * * TUE",
			wantErr:  ErrInvalidSchedule, wantMsg: `five fields (minute hour day-of-month month day-of-week) such as "0 14 * * TUE"`,
		},
		"empty schedule says what to write": {
			schedule: "  ",
			wantErr:  ErrInvalidSchedule, wantMsg: "schedule is empty",
		},
		"30 February never fires": {
			schedule: "0 0 30 2 *",
			wantErr:  ErrInvalidSchedule, wantMsg: "never fires",
		},
		"29 February fires in leap years": {
			schedule: "0 0 29 2 *", wantZone: time.UTC,
		},
		"hour out of range": {
			schedule: "0 25 * * *",
			wantErr:  ErrInvalidSchedule, wantMsg: "above maximum",
		},
		"unknown descriptor": {
			schedule: "@fortnightly",
			wantErr:  ErrInvalidSchedule, wantMsg: "unrecognized descriptor",
		},
		"@every below a second is refused, not rounded up": {
			schedule: "@every 500ms",
			wantErr:  ErrInvalidSchedule, wantMsg: "one second",
		},
		"@every negative is refused, not rounded up": {
			schedule: "@every -5m",
			wantErr:  ErrInvalidSchedule, wantMsg: "one second",
		},
		"@every with a fraction of a second is refused, not truncated": {
			schedule: "@every 1.5s",
			wantErr:  ErrInvalidSchedule, wantMsg: "whole seconds",
		},
		"@every without a duration": {
			schedule: "@every soon",
			wantErr:  ErrInvalidSchedule, wantMsg: `such as "30m"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.schedule, tc.timeZone)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse(%q) = %v, want no error", tc.schedule, err)
				}
				if got.Location().String() != tc.wantZone.String() {
					t.Errorf("Location() = %v, want %v", got.Location(), tc.wantZone)
				}
				if got.String() != tc.schedule {
					t.Errorf("String() = %q, want %q", got.String(), tc.schedule)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want one wrapping %v", tc.schedule, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestLoadLocationCachesAndStaysCorrect(t *testing.T) {
	first, err := LoadLocation(ptr("Asia/Seoul"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadLocation(ptr("Asia/Seoul"))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("second load returned a new *time.Location; the cache is not used")
	}
	if got := tuesday0500UTC.In(second); got.Hour() != 14 {
		t.Errorf("05:00 UTC in cached Seoul = %v, want 14:00", got)
	}
	if _, err := LoadLocation(ptr("Mars/Base")); err == nil {
		t.Fatal("Mars/Base loaded")
	}
	if _, err := LoadLocation(ptr("Mars/Base")); err == nil {
		t.Fatal("Mars/Base loaded on the second try: an invalid zone was cached")
	}
}

// TestNext pins robfig/cron v3.0.1's behaviour on daylight saving days, the
// behaviour the package documentation promises.
func TestNext(t *testing.T) {
	tests := map[string]struct {
		schedule string
		zone     string
		now      time.Time
		want     time.Time
	}{
		"Tuesday 14:00 in Seoul is 05:00 UTC": {
			schedule: "0 14 * * TUE", zone: "Asia/Seoul", now: monday0900UTC, want: tuesday0500UTC,
		},
		"spring forward in Berlin, a 02:30 job does not run that day": {
			schedule: "30 2 * * *", zone: "Europe/Berlin", now: berlinSpringEve, want: berlinSpringNext,
		},
		"spring forward in New York, a 02:30 job does not run that day": {
			schedule: "30 2 * * *", zone: "America/New_York", now: newYorkSpringDay, want: newYorkSpringNext,
		},
		"spring forward in Berlin, hourly goes from 01:00 to 03:00": {
			schedule: "0 * * * *", zone: "Europe/Berlin", now: wall(berlin, "2026-03-29 01:00:00"), want: berlinSpringJump,
		},
		"fall back in Berlin, a 02:30 job runs in the first pass": {
			schedule: "30 2 * * *", zone: "Europe/Berlin", now: wall(berlin, "2026-10-24 12:00:00"), want: berlinFallFirst,
		},
		"fall back in Berlin, a 02:30 job runs again in the second pass": {
			schedule: "30 2 * * *", zone: "Europe/Berlin", now: berlinFallFirst, want: berlinFallSecond,
		},
		"fall back in New York, a 01:30 job runs twice": {
			schedule: "30 1 * * *", zone: "America/New_York", now: newYorkFallFirst, want: newYorkFallSecond,
		},
		"Seoul keeps no daylight saving time, 02:30 runs on Berlin's spring day": {
			schedule: "30 2 * * *", zone: "Asia/Seoul", now: wall(seoul, "2026-03-29 00:00:00"), want: wall(seoul, "2026-03-29 02:30:00"),
		},
		"a now in another zone is converted first": {
			schedule: "0 14 * * *", zone: "Asia/Seoul", now: wall(berlin, "2026-03-10 05:59:00"), want: tuesday1400Seoul,
		},
		"after Lord Howe's half-hour fall back, midnight still fires the next day (robfig alone skips it)": {
			schedule: "0 0 * * *", zone: "Australia/Lord_Howe", now: wall(mustZone("Australia/Lord_Howe"), "2026-04-05 01:35:00"),
			want: wall(mustZone("Australia/Lord_Howe"), "2026-04-06 00:00:00"),
		},
		"@every counts from now": {
			schedule: "@every 20s", zone: "", now: friday2200UTC, want: friday2200UTC.Add(20 * time.Second),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sched, err := Parse(tc.schedule, &tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			if got := Next(sched, tc.now); !got.Equal(tc.want) {
				t.Errorf("Next(%q, %v) = %v, want %v", tc.schedule, tc.now, got, tc.want)
			}
		})
	}
}

func TestNextOfZeroScheduleIsZero(t *testing.T) {
	if got := Next(Schedule{}, friday2200UTC); !got.IsZero() {
		t.Errorf("Next(zero Schedule) = %v, want the zero time", got)
	}
	if _, _, err := MostRecentMissed(Schedule{}, friday2200UTC, friday2200UTC); !errors.Is(err, ErrInvalidSchedule) {
		t.Errorf("MostRecentMissed(zero Schedule) error = %v, want ErrInvalidSchedule", err)
	}
}

func TestRequeueAfter(t *testing.T) {
	tests := map[string]struct {
		next, now time.Time
		want      time.Duration
	}{
		"an hour ahead, plus slack":     {next: friday2200UTC.Add(time.Hour), now: friday2200UTC, want: time.Hour + RequeueSlack},
		"already passed, retry at once": {next: friday2200UTC.Add(-time.Second), now: friday2200UTC, want: RequeueSlack},
		"no next time, no requeue":      {next: time.Time{}, now: friday2200UTC, want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RequeueAfter(tc.next, tc.now); got != tc.want {
				t.Errorf("RequeueAfter = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMostRecentMissed(t *testing.T) {
	year := 365 * 24 * time.Hour
	tests := map[string]struct {
		schedule    string
		zone        string
		earliest    time.Time
		now         time.Time
		wantRecent  time.Time // zero: nothing due
		wantMissed  int       // exact, unless wantAtLeast
		wantAtLeast bool
		wantMaxTime time.Duration // 0: no limit; set where walking every time would take seconds
	}{
		"nothing due before the first time": {
			schedule: "0 * * * *", earliest: friday2200UTC, now: friday2200UTC.Add(59 * time.Minute),
		},
		"the first time is due exactly at now": {
			schedule: "0 * * * *", earliest: friday2200UTC, now: friday2200UTC.Add(time.Hour),
			wantRecent: friday2200UTC.Add(time.Hour), wantMissed: 1,
		},
		"earliest itself is not due again": {
			schedule: "0 * * * *", earliest: friday2200UTC, now: friday2200UTC,
		},
		"three hourly times due, the last is most recent": {
			schedule: "0 * * * *", earliest: friday2200UTC, now: friday2200UTC.Add(3*time.Hour + 30*time.Minute),
			wantRecent: friday2200UTC.Add(3 * time.Hour), wantMissed: 3,
		},
		"Tuesday 14:00 in Seoul is due at 05:00 UTC": {
			schedule: "0 14 * * TUE", zone: "Asia/Seoul", earliest: monday0900UTC, now: tuesday0500UTC,
			wantRecent: tuesday1400Seoul, wantMissed: 1,
		},
		"both passes of fall-back 02:30 in Berlin count": {
			schedule: "30 2 * * *", zone: "Europe/Berlin", earliest: wall(berlin, "2026-10-24 12:00:00"), now: berlinFallSecond,
			wantRecent: berlinFallSecond, wantMissed: 2,
		},
		"@every 1s over a year is counted by division": {
			schedule: "@every 1s", earliest: friday2200UTC, now: friday2200UTC.Add(year),
			wantRecent: friday2200UTC.Add(year), wantMissed: int(year / time.Second),
			wantMaxTime: 200 * time.Millisecond,
		},
		"@every keeps its beat from earliest": {
			schedule: "@every 30m", earliest: friday2200UTC, now: friday2200UTC.Add(95 * time.Minute),
			wantRecent: friday2200UTC.Add(90 * time.Minute), wantMissed: 3,
		},
		"every minute for a year finds the exact most recent time quickly": {
			schedule: "* * * * *", earliest: friday2200UTC, now: friday2200UTC.Add(year + 30*time.Second),
			wantRecent: friday2200UTC.Add(year), wantMissed: exactCountLimit + 1, wantAtLeast: true,
			wantMaxTime: 200 * time.Millisecond,
		},
		"a clustered schedule months behind finds the exact most recent time": {
			schedule: "* 9 * * MON", earliest: monday0900UTC, now: wall(time.UTC, "2026-07-02 12:00:00"), // a Thursday
			wantRecent: wall(time.UTC, "2026-06-29 09:59:00"), wantMissed: exactCountLimit + 1, wantAtLeast: true,
			wantMaxTime: 200 * time.Millisecond,
		},
		"a zero creation time does not hang": {
			schedule: "0 14 * * TUE", zone: "Asia/Seoul", earliest: time.Time{}, now: tuesday0500UTC,
			wantRecent: tuesday1400Seoul, wantMissed: exactCountLimit + 1, wantAtLeast: true,
			wantMaxTime: 200 * time.Millisecond,
		},
		"@every from a zero creation time stays on its beat": {
			schedule: "@every 1h", earliest: time.Time{}, now: wall(time.UTC, "2026-03-13 22:30:00"),
			wantRecent: friday2200UTC, wantMissed: exactCountLimit + 1, wantAtLeast: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sched, err := Parse(tc.schedule, &tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			// Wall time bounds the cost, the point of counting by
			// arithmetic; generous so a loaded machine does not flake.
			start := time.Now()
			recent, missed, err := MostRecentMissed(sched, tc.earliest, tc.now)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if !recent.Equal(tc.wantRecent) {
				t.Errorf("most recent = %v, want %v", recent, tc.wantRecent)
			}
			if tc.wantAtLeast && missed < tc.wantMissed || !tc.wantAtLeast && missed != tc.wantMissed {
				t.Errorf("missed = %d, want %d (at least: %v)", missed, tc.wantMissed, tc.wantAtLeast)
			}
			if tc.wantMaxTime > 0 && elapsed > tc.wantMaxTime {
				t.Errorf("took %v, want under %v", elapsed, tc.wantMaxTime)
			}
		})
	}
}

// TestMostRecentMissedAgreesWithWalkingEveryTime checks the look-back search
// against the obvious answer, walking every schedule time, over spans long
// enough to leave the exact count behind.
func TestMostRecentMissedAgreesWithWalkingEveryTime(t *testing.T) {
	schedules := []string{
		"*/7 * * * *", "30 6-16/4 * * 1-5", "* 9 * * MON", "0 0 1,15 * *", "15 2 * * *",
		"0 */2 * * SAT,SUN", "@hourly", "@every 37m", "5 4 * * SUN", "0 0 29 2 *",
	}
	zones := []string{"", "Europe/Berlin", "America/New_York", "Asia/Seoul"}
	rng := rand.New(rand.NewPCG(1, 2))
	base := wall(time.UTC, "2025-01-01 00:00:00")
	for range 300 {
		spec, zone := schedules[rng.IntN(len(schedules))], zones[rng.IntN(len(zones))]
		sched, err := Parse(spec, &zone)
		if err != nil {
			t.Fatal(err)
		}
		earliest := base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		// Up to 30 days: far enough past exactCountLimit for the frequent
		// schedules, short enough for the walk to stay fast.
		now := earliest.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))

		var wantRecent time.Time
		wantCount := 0
		for next := Next(sched, earliest); !next.IsZero() && !next.After(now); next = Next(sched, next) {
			wantRecent, wantCount = next, wantCount+1
		}

		recent, missed, err := MostRecentMissed(sched, earliest, now)
		if err != nil {
			t.Fatal(err)
		}
		if !recent.Equal(wantRecent) {
			t.Errorf("%q in %q from %v to %v: most recent = %v, want %v", spec, zone, earliest, now, recent, wantRecent)
		}
		switch {
		case wantCount <= exactCountLimit && missed != wantCount:
			t.Errorf("%q in %q from %v to %v: missed = %d, want exactly %d", spec, zone, earliest, now, missed, wantCount)
		case wantCount > exactCountLimit && missed <= exactCountLimit:
			t.Errorf("%q in %q from %v to %v: missed = %d, want above %d (true count %d)", spec, zone, earliest, now, missed, exactCountLimit, wantCount)
		}
	}
}

// TestNextAgreesWithRobfigInTheRealZone holds Next's shortcuts (see
// nextWallClock) to robfig's own answer in the real zone, from instants
// every few minutes around each daylight saving change of 2026, in zones
// that change at night, at midnight (Santiago), with a 45-minute offset
// (Chatham), or not at all. Lord Howe's half-hour change is left out: there
// robfig is wrong, and TestNext pins the right answer.
func TestNextAgreesWithRobfigInTheRealZone(t *testing.T) {
	schedules := []string{
		"30 2 * * *", "0 * * * *", "*/20 * * * *", "0 0 * * *", "15 1,2,3 * * SUN",
		"0 14 * * TUE", "45 23 * * *", "0 0 1 * *", "@daily", "@weekly",
	}
	zones := []string{"America/New_York", "Europe/Berlin", "Asia/Seoul", "America/Santiago", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Chatham"}
	for _, zone := range zones {
		loc := mustZone(zone)
		var changes []time.Time
		for _, end := wall(loc, "2026-01-01 00:00:00").ZoneBounds(); !end.IsZero() && end.Year() == 2026; _, end = end.ZoneBounds() {
			changes = append(changes, end)
		}
		if len(changes) == 0 {
			changes = append(changes, wall(loc, "2026-03-29 02:00:00")) // no changes: any day will do
		}
		for _, spec := range schedules {
			sched, err := Parse(spec, &zone)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := parser.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			real := raw.(*cron.SpecSchedule)
			real.Location = loc
			for _, change := range changes {
				for at := change.Add(-36 * time.Hour); at.Before(change.Add(36 * time.Hour)); at = at.Add(7*time.Minute + 13*time.Second) {
					if got, want := Next(sched, at), real.Next(at.In(loc)); !got.Equal(want) {
						t.Fatalf("%q in %s from %v: Next = %v, robfig = %v", spec, zone, at.In(loc), got, want)
					}
				}
			}
		}
	}
}
