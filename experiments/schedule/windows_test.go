package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func days(names ...chaosv1alpha1.Weekday) []chaosv1alpha1.Weekday { return names }

var (
	weekdayOffice = chaosv1alpha1.TimeWindow{Days: days("Mon", "Tue", "Wed", "Thu"), Start: "10:00", End: "16:00"}
	fridayNight   = chaosv1alpha1.TimeWindow{Days: days("Fri"), Start: "22:00", End: "02:00"}
	berlinGapHour = chaosv1alpha1.TimeWindow{Start: "02:00", End: "03:00"}
)

func TestInWindows(t *testing.T) {
	tests := map[string]struct {
		windows []chaosv1alpha1.TimeWindow
		loc     *time.Location
		at      time.Time
		want    bool
	}{
		"no windows means any time": {
			windows: nil, at: saturday0100UTC, want: true,
		},
		"inside a weekday window": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-10 12:00:00"), want: true,
		},
		"start is inclusive": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-10 10:00:00"), want: true,
		},
		"end is exclusive": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-10 16:00:00"), want: false,
		},
		"a minute before the end is inside": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-10 15:59:59"), want: true,
		},
		"right hours on a day not listed": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-13 12:00:00"), want: false,
		},
		"no days means every day": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "10:00", End: "16:00"}}, at: wall(time.UTC, "2026-03-15 12:00:00"), want: true,
		},
		"window crossing midnight includes 22:00 Friday": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: friday2200UTC, want: true,
		},
		"window crossing midnight includes 01:00 Saturday": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: saturday0100UTC, want: true,
		},
		"window crossing midnight excludes 01:00 Friday": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: wall(time.UTC, "2026-03-13 01:00:00"), want: false,
		},
		"window crossing midnight closes at 02:00 Saturday": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: wall(time.UTC, "2026-03-14 02:00:00"), want: false,
		},
		"window crossing midnight excludes 23:00 Saturday": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: wall(time.UTC, "2026-03-14 23:00:00"), want: false,
		},
		"read on the zone's wall clock: 05:00 UTC is 14:00 in Seoul": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, loc: seoul, at: tuesday0500UTC, want: true,
		},
		"read on the zone's wall clock: 05:00 UTC is outside in UTC": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: tuesday0500UTC, want: false,
		},
		"an unreadable window is never open": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "25:00", End: "26:00"}}, at: saturday0100UTC, want: false,
		},
		"an unreadable window does not close a readable one": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "nope", End: "26:00"}, fridayNight}, at: saturday0100UTC, want: true,
		},
		"spring forward in Berlin, a 02:00-03:00 window is not open just before the jump": {
			windows: []chaosv1alpha1.TimeWindow{berlinGapHour}, loc: berlin, at: berlinSpringJump.Add(-time.Second), want: false,
		},
		"spring forward in Berlin, a 02:00-03:00 window is not open just after the jump": {
			windows: []chaosv1alpha1.TimeWindow{berlinGapHour}, loc: berlin, at: berlinSpringJump, want: false,
		},
		"fall back in Berlin, a 02:00-03:00 window is open in the first pass": {
			windows: []chaosv1alpha1.TimeWindow{berlinGapHour}, loc: berlin, at: berlinFallFirst, want: true,
		},
		"fall back in Berlin, a 02:00-03:00 window is open in the second pass": {
			windows: []chaosv1alpha1.TimeWindow{berlinGapHour}, loc: berlin, at: berlinFallSecond, want: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InWindows(tc.windows, tc.loc, tc.at); got != tc.want {
				t.Errorf("InWindows(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestNextWindowOpen(t *testing.T) {
	tests := map[string]struct {
		windows []chaosv1alpha1.TimeWindow
		loc     *time.Location
		at      time.Time
		want    time.Time
		wantOK  bool
	}{
		"no windows, open now": {
			at: friday2200UTC, want: friday2200UTC, wantOK: true,
		},
		"already open, open now": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: saturday0100UTC, want: saturday0100UTC, wantOK: true,
		},
		"opens later today": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-10 08:12:34"),
			want: wall(time.UTC, "2026-03-10 10:00:00"), wantOK: true,
		},
		"closed Friday afternoon, opens next Monday": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, at: wall(time.UTC, "2026-03-13 12:00:00"),
			want: wall(time.UTC, "2026-03-16 10:00:00"), wantOK: true,
		},
		"just closed, opens a week later": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight}, at: wall(time.UTC, "2026-03-14 02:00:00"),
			want: wall(time.UTC, "2026-03-20 22:00:00"), wantOK: true,
		},
		"opens in the zone's wall clock": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice}, loc: seoul, at: monday0900UTC,
			want: wall(seoul, "2026-03-10 10:00:00"), wantOK: true,
		},
		"the earliest of several windows": {
			windows: []chaosv1alpha1.TimeWindow{fridayNight, weekdayOffice}, at: wall(time.UTC, "2026-03-12 17:00:00"),
			want: friday2200UTC, wantOK: true,
		},
		"spring forward in Berlin, a window starting 02:30 opens at the jump to 03:00": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "02:30", End: "04:00"}}, loc: berlin, at: berlinSpringDay,
			want: berlinSpringJump, wantOK: true,
		},
		"spring forward in Berlin, a window inside the gap waits for the next day": {
			windows: []chaosv1alpha1.TimeWindow{berlinGapHour}, loc: berlin, at: berlinSpringDay,
			want: wall(berlin, "2026-03-30 02:00:00"), wantOK: true,
		},
		"fall back in New York, a window reopens in the repeated hour": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "01:30", End: "02:00"}}, loc: newYork,
			at:   time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC), // 01:10 EST, after the first pass closed
			want: newYorkFallSecond, wantOK: true,
		},
		"unreadable windows never open": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "24:00", End: "01:00"}}, at: friday2200UTC, wantOK: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := NextWindowOpen(tc.windows, tc.loc, tc.at)
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("NextWindowOpen(%v) = %v, %v, want %v, %v", tc.at, got, ok, tc.want, tc.wantOK)
			}
			if ok && !InWindows(tc.windows, tc.loc, got) {
				t.Errorf("NextWindowOpen returned %v, which InWindows says is closed", got)
			}
		})
	}
}

func TestInBlackout(t *testing.T) {
	christmasSeoul := chaosv1alpha1.BlackoutWindow{
		TimeWindow: chaosv1alpha1.TimeWindow{Days: days("Tue"), Start: "09:00", End: "18:00"},
		TimeZone:   ptr("Asia/Seoul"),
	}
	fridayNightUTC := chaosv1alpha1.BlackoutWindow{TimeWindow: fridayNight}
	tests := map[string]struct {
		windows   []chaosv1alpha1.BlackoutWindow
		at        time.Time
		want      bool
		wantIndex int
	}{
		"no blackouts": {
			at: friday2200UTC, want: false, wantIndex: -1,
		},
		"each blackout in its own zone: 05:00 UTC Tuesday is 14:00 in Seoul": {
			windows: []chaosv1alpha1.BlackoutWindow{fridayNightUTC, christmasSeoul}, at: tuesday0500UTC, want: true, wantIndex: 1,
		},
		"no zone means UTC": {
			windows: []chaosv1alpha1.BlackoutWindow{christmasSeoul, fridayNightUTC}, at: saturday0100UTC, want: true, wantIndex: 1,
		},
		"outside every blackout": {
			windows: []chaosv1alpha1.BlackoutWindow{christmasSeoul, fridayNightUTC}, at: monday0900UTC, want: false, wantIndex: -1,
		},
		"an unknown zone counts as in force": {
			windows: []chaosv1alpha1.BlackoutWindow{{TimeWindow: fridayNight, TimeZone: ptr("Mars/Base")}}, at: monday0900UTC, want: true, wantIndex: 0,
		},
		"an unreadable time counts as in force": {
			windows: []chaosv1alpha1.BlackoutWindow{{TimeWindow: chaosv1alpha1.TimeWindow{Start: "9:00", End: "17:00"}}}, at: monday0900UTC, want: true, wantIndex: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, index := InBlackout(tc.windows, tc.at)
			if got != tc.want || index != tc.wantIndex {
				t.Errorf("InBlackout(%v) = %v, %d, want %v, %d", tc.at, got, index, tc.want, tc.wantIndex)
			}
		})
	}
}

func TestNextBlackoutEnd(t *testing.T) {
	fridayNightUTC := chaosv1alpha1.BlackoutWindow{TimeWindow: fridayNight}
	saturdayMorningSeoul := chaosv1alpha1.BlackoutWindow{
		TimeWindow: chaosv1alpha1.TimeWindow{Days: days("Sat"), Start: "10:00", End: "12:00"}, // 01:00-03:00 UTC
		TimeZone:   ptr("Asia/Seoul"),
	}
	tests := map[string]struct {
		windows []chaosv1alpha1.BlackoutWindow
		at      time.Time
		want    time.Time
		wantOK  bool
	}{
		"not in a blackout, free now": {
			windows: []chaosv1alpha1.BlackoutWindow{fridayNightUTC}, at: monday0900UTC, want: monday0900UTC, wantOK: true,
		},
		"ends at the window's end, across midnight": {
			windows: []chaosv1alpha1.BlackoutWindow{fridayNightUTC}, at: friday2200UTC,
			want: wall(time.UTC, "2026-03-14 02:00:00"), wantOK: true,
		},
		"overlapping blackouts in different zones end when the last does": {
			windows: []chaosv1alpha1.BlackoutWindow{fridayNightUTC, saturdayMorningSeoul}, at: friday2200UTC,
			want: wall(time.UTC, "2026-03-14 03:00:00"), wantOK: true,
		},
		"an unreadable blackout never ends": {
			windows: []chaosv1alpha1.BlackoutWindow{{TimeWindow: fridayNight, TimeZone: ptr("Mars/Base")}}, at: friday2200UTC, wantOK: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := NextBlackoutEnd(tc.windows, tc.at)
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("NextBlackoutEnd(%v) = %v, %v, want %v, %v", tc.at, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestValidateWindows(t *testing.T) {
	tests := map[string]struct {
		windows []chaosv1alpha1.TimeWindow
		wantMsg []string // empty: valid
	}{
		"valid windows": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice, fridayNight},
		},
		"hour out of range names the field and the fix": {
			windows: []chaosv1alpha1.TimeWindow{weekdayOffice, {Start: "24:00", End: "02:00"}},
			wantMsg: []string{`spec.windows[1]: start: "24:00": the hour must be 00 to 23`},
		},
		"a single-digit hour says to write HH:MM": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "9:30", End: "17:00"}},
			wantMsg: []string{`spec.windows[0]: start: "9:30" is not a time of day: write "HH:MM"`},
		},
		"minutes out of range": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "09:00", End: "17:60"}},
			wantMsg: []string{`end: "17:60": the minutes must be 00 to 59`},
		},
		"equal start and end says how to allow the whole day": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "09:00", End: "09:00"}},
			wantMsg: []string{`use start "00:00" and end "23:59"`},
		},
		"an unknown day lists the names": {
			windows: []chaosv1alpha1.TimeWindow{{Days: days("Monday"), Start: "09:00", End: "17:00"}},
			wantMsg: []string{`unknown day "Monday": use Mon, Tue, Wed, Thu, Fri, Sat or Sun`},
		},
		"every bad window is reported": {
			windows: []chaosv1alpha1.TimeWindow{{Start: "x", End: "17:00"}, weekdayOffice, {Start: "09:00", End: "y"}},
			wantMsg: []string{"spec.windows[0]", "spec.windows[2]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ValidateWindows(tc.windows)
			if len(tc.wantMsg) == 0 {
				if err != nil {
					t.Fatalf("ValidateWindows = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidWindow) {
				t.Fatalf("ValidateWindows = %v, want an error wrapping ErrInvalidWindow", err)
			}
			for _, msg := range tc.wantMsg {
				if !strings.Contains(err.Error(), msg) {
					t.Errorf("error %q does not contain %q", err, msg)
				}
			}
		})
	}
}

func TestValidateBlackouts(t *testing.T) {
	err := ValidateBlackouts([]chaosv1alpha1.BlackoutWindow{
		{TimeWindow: fridayNight},
		{TimeWindow: fridayNight, TimeZone: ptr("Mars/Base")},
		{TimeWindow: chaosv1alpha1.TimeWindow{Start: "22:00", End: "2:00"}},
	})
	if !errors.Is(err, ErrInvalidTimeZone) || !errors.Is(err, ErrInvalidWindow) {
		t.Fatalf("ValidateBlackouts = %v, want errors wrapping ErrInvalidTimeZone and ErrInvalidWindow", err)
	}
	for _, msg := range []string{`spec.blackoutWindows[1].timeZone: unknown time zone "Mars/Base"`, `spec.blackoutWindows[2]: end: "2:00"`} {
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error %q does not contain %q", err, msg)
		}
	}
	if err := ValidateBlackouts([]chaosv1alpha1.BlackoutWindow{{TimeWindow: fridayNight, TimeZone: ptr("Asia/Seoul")}}); err != nil {
		t.Errorf("ValidateBlackouts(valid) = %v, want nil", err)
	}
}

func TestBlackoutErrorsNameTheFieldOfEachWindow(t *testing.T) {
	errs := BlackoutErrors([]chaosv1alpha1.BlackoutWindow{
		{TimeWindow: fridayNight},
		{TimeWindow: fridayNight, TimeZone: ptr("Mars/Base")},
		{TimeWindow: chaosv1alpha1.TimeWindow{Start: "22:00", End: "2:00"}},
	}, field.NewPath("spec", "blackoutWindows"))
	want := []string{
		`spec.blackoutWindows[1].timeZone: Invalid value: "Mars/Base": unknown time zone: use an IANA name such as Europe/Berlin`,
		`spec.blackoutWindows[2].end: Invalid value: "2:00": is not a time of day: write "HH:MM"`,
	}
	if len(errs) != len(want) {
		t.Fatalf("BlackoutErrors = %q, want %d errors", errs, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want it to start %q", i, errs[i].Error(), w)
		}
	}
	if errs := BlackoutErrors([]chaosv1alpha1.BlackoutWindow{{TimeWindow: fridayNight, TimeZone: ptr("Asia/Seoul")}}, field.NewPath("spec", "blackoutWindows")); len(errs) > 0 {
		t.Errorf("BlackoutErrors(valid) = %v, want none", errs)
	}
}
