package schedule

import (
	"time"
)

// Zones the tests read schedules in: two with daylight saving time on
// different dates, and one without.
var (
	newYork = mustZone("America/New_York")
	berlin  = mustZone("Europe/Berlin")
	seoul   = mustZone("Asia/Seoul")
)

// Named instants. 2026: Tuesday 10 March; Friday 13 March; Berlin springs
// forward on Sunday 29 March (02:00 CET -> 03:00 CEST) and falls back on
// Sunday 25 October (03:00 CEST -> 02:00 CET); New York springs forward on
// 8 March and falls back on 1 November.
var (
	tuesday1400Seoul  = wall(seoul, "2026-03-10 14:00:00")
	tuesday0500UTC    = wall(time.UTC, "2026-03-10 05:00:00")
	monday0900UTC     = wall(time.UTC, "2026-03-09 09:00:00")
	friday2200UTC     = wall(time.UTC, "2026-03-13 22:00:00")
	saturday0100UTC   = wall(time.UTC, "2026-03-14 01:00:00")
	berlinSpringEve   = wall(berlin, "2026-03-28 12:00:00")
	berlinSpringDay   = wall(berlin, "2026-03-29 00:00:00")
	berlinSpringJump  = wall(time.UTC, "2026-03-29 01:00:00") // 02:00 CET becomes 03:00 CEST
	berlinSpringNext  = wall(berlin, "2026-03-30 02:30:00")
	berlinFallFirst   = time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC) // 02:30 CEST
	berlinFallSecond  = time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC) // 02:30 CET
	newYorkSpringDay  = wall(newYork, "2026-03-08 00:00:00")
	newYorkSpringNext = wall(newYork, "2026-03-09 02:30:00")
	newYorkFallFirst  = time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC) // 01:30 EDT
	newYorkFallSecond = time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC) // 01:30 EST
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// wall reads "2006-01-02 15:04:05" on loc's wall clock.
func wall(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }
