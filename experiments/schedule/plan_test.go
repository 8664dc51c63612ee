package schedule

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	hourly := "0 * * * *"
	created := friday2200UTC.Add(-30 * time.Minute) // 21:30, before the 22:00 run
	tests := map[string]struct {
		in  PlanInput
		now time.Time

		wantScheduled *time.Time
		wantSkipped   *time.Time // set means TooLate
		wantMissed    int
		wantTooMany   bool
		wantNext      time.Time
		wantErr       error
	}{
		"first run after creation starts on time": {
			in:  PlanInput{Schedule: hourly, CreationTime: created},
			now: friday2200UTC.Add(RequeueSlack),

			wantScheduled: &friday2200UTC, wantNext: friday2200UTC.Add(time.Hour),
		},
		"nothing due yet, wait for the next time": {
			in:  PlanInput{Schedule: hourly, CreationTime: created},
			now: created.Add(time.Minute),

			wantNext: friday2200UTC,
		},
		"the run for the most recent time exists, nothing due": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, LastScheduleTime: &friday2200UTC},
			now: friday2200UTC.Add(10 * time.Minute),

			wantNext: friday2200UTC.Add(time.Hour),
		},
		"past deadline, skips run": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, StartingDeadlineSeconds: ptr[int64](300)},
			now: friday2200UTC.Add(10 * time.Minute),

			wantSkipped: &friday2200UTC, wantMissed: 1, wantNext: friday2200UTC.Add(time.Hour),
		},
		"deadline just missed by one second": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, StartingDeadlineSeconds: ptr[int64](300)},
			now: friday2200UTC.Add(301 * time.Second),

			wantSkipped: &friday2200UTC, wantMissed: 1, wantNext: friday2200UTC.Add(time.Hour),
		},
		"deadline met to the second, runs": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, StartingDeadlineSeconds: ptr[int64](300)},
			now: friday2200UTC.Add(300*time.Second + 900*time.Millisecond),

			wantScheduled: &friday2200UTC, wantNext: friday2200UTC.Add(time.Hour),
		},
		"zero deadline still lets the requeue slack through": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, StartingDeadlineSeconds: ptr[int64](0)},
			now: friday2200UTC.Add(RequeueSlack),

			wantScheduled: &friday2200UTC, wantNext: friday2200UTC.Add(time.Hour),
		},
		"no deadline, a run hours late still starts and the older times are missed": {
			in:  PlanInput{Schedule: hourly, CreationTime: created},
			now: friday2200UTC.Add(3*time.Hour + 20*time.Minute),

			wantScheduled: ptr(friday2200UTC.Add(3 * time.Hour)), wantMissed: 3, wantNext: friday2200UTC.Add(4 * time.Hour),
		},
		"late within the deadline after missed times, the newest starts": {
			in:  PlanInput{Schedule: hourly, CreationTime: created, StartingDeadlineSeconds: ptr[int64](600)},
			now: friday2200UTC.Add(2*time.Hour + 5*time.Minute),

			wantScheduled: ptr(friday2200UTC.Add(2 * time.Hour)), wantMissed: 2, wantNext: friday2200UTC.Add(3 * time.Hour),
		},
		"exactly 100 missed is not too many": {
			in:  PlanInput{Schedule: hourly, LastScheduleTime: &friday2200UTC},
			now: friday2200UTC.Add(101 * time.Hour),

			wantScheduled: ptr(friday2200UTC.Add(101 * time.Hour)), wantMissed: 100, wantNext: friday2200UTC.Add(102 * time.Hour),
		},
		"more than 100 missed, reported": {
			in:  PlanInput{Schedule: hourly, LastScheduleTime: &friday2200UTC},
			now: friday2200UTC.Add(102 * time.Hour),

			wantScheduled: ptr(friday2200UTC.Add(102 * time.Hour)), wantMissed: 101, wantTooMany: true, wantNext: friday2200UTC.Add(103 * time.Hour),
		},
		"a year of @every 1s missed is reported without walking it": {
			in:  PlanInput{Schedule: "@every 1s", LastScheduleTime: &friday2200UTC},
			now: friday2200UTC.Add(365 * 24 * time.Hour),

			wantScheduled: ptr(friday2200UTC.Add(365 * 24 * time.Hour)), wantMissed: 365*24*3600 - 1, wantTooMany: true,
			wantNext: friday2200UTC.Add(365*24*time.Hour + time.Second),
		},
		"@every keeps its beat from the last run, not from now": {
			in:  PlanInput{Schedule: "@every 30m", LastScheduleTime: &friday2200UTC},
			now: friday2200UTC.Add(5 * time.Minute),

			wantNext: friday2200UTC.Add(30 * time.Minute),
		},
		"@every past its deadline stays on its beat": {
			in:  PlanInput{Schedule: "@every 30m", LastScheduleTime: &friday2200UTC, StartingDeadlineSeconds: ptr[int64](60)},
			now: friday2200UTC.Add(70 * time.Minute),

			wantSkipped: ptr(friday2200UTC.Add(60 * time.Minute)), wantMissed: 2, wantNext: friday2200UTC.Add(90 * time.Minute),
		},
		"Tuesday 14:00 in Seoul starts at 05:00 UTC": {
			in:  PlanInput{Schedule: "0 14 * * TUE", TimeZone: ptr("Asia/Seoul"), CreationTime: monday0900UTC},
			now: tuesday0500UTC,

			wantScheduled: &tuesday1400Seoul, wantNext: tuesday1400Seoul.AddDate(0, 0, 7),
		},
		"spring forward in Berlin, the 02:30 job is not due that day": {
			in:  PlanInput{Schedule: "30 2 * * *", TimeZone: ptr("Europe/Berlin"), LastScheduleTime: ptr(wall(berlin, "2026-03-28 02:30:00"))},
			now: wall(berlin, "2026-03-29 12:00:00"),

			wantNext: berlinSpringNext,
		},
		"fall back in Berlin, the second 02:30 is due after the first ran": {
			in:  PlanInput{Schedule: "30 2 * * *", TimeZone: ptr("Europe/Berlin"), LastScheduleTime: &berlinFallFirst},
			now: berlinFallSecond,

			wantScheduled: &berlinFallSecond, wantNext: wall(berlin, "2026-10-26 02:30:00"),
		},
		"fall back in New York, the second 01:30 is due after the first ran": {
			in:  PlanInput{Schedule: "30 1 * * *", TimeZone: ptr("America/New_York"), LastScheduleTime: &newYorkFallFirst},
			now: newYorkFallSecond.Add(time.Second),

			wantScheduled: &newYorkFallSecond, wantNext: wall(newYork, "2026-11-02 01:30:00"),
		},
		"a last schedule time in the future (clock skew) starts nothing": {
			in:  PlanInput{Schedule: hourly, LastScheduleTime: ptr(friday2200UTC.Add(2 * time.Hour))},
			now: friday2200UTC.Add(30 * time.Minute),

			wantNext: friday2200UTC.Add(3 * time.Hour),
		},
		"invalid zone is an error, not UTC": {
			in:      PlanInput{Schedule: hourly, TimeZone: ptr("Mars/Base"), CreationTime: created},
			now:     friday2200UTC,
			wantErr: ErrInvalidTimeZone,
		},
		"invalid schedule is an error": {
			in:      PlanInput{Schedule: "every day at noon", CreationTime: created},
			now:     friday2200UTC,
			wantErr: ErrInvalidSchedule,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Plan(tc.in, tc.now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Plan error = %v, want one wrapping %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !sameInstant(got.ScheduledTime, tc.wantScheduled) {
				t.Errorf("ScheduledTime = %v, want %v", show(got.ScheduledTime), show(tc.wantScheduled))
			}
			if got.TooLate != (tc.wantSkipped != nil) || !sameInstant(got.SkippedTime, tc.wantSkipped) {
				t.Errorf("TooLate, SkippedTime = %v, %v, want %v, %v", got.TooLate, show(got.SkippedTime), tc.wantSkipped != nil, show(tc.wantSkipped))
			}
			if got.Missed != tc.wantMissed {
				t.Errorf("Missed = %d, want %d", got.Missed, tc.wantMissed)
			}
			if got.TooManyMissed != tc.wantTooMany {
				t.Errorf("TooManyMissed = %v, want %v", got.TooManyMissed, tc.wantTooMany)
			}
			if !got.Next.Equal(tc.wantNext) {
				t.Errorf("Next = %v, want %v", got.Next, tc.wantNext)
			}
			if want := tc.wantNext.Sub(tc.now) + RequeueSlack; got.RequeueAfter != want {
				t.Errorf("RequeueAfter = %v, want %v", got.RequeueAfter, want)
			}
		})
	}
}

// TestPlanIsIdempotentAcrossRestarts replays a controller that created the
// run, crashed before recording lastScheduleTime, and planned again: the
// same time is due and RunName gives the same name, so creating it again
// finds the first run instead of starting a second.
func TestPlanIsIdempotentAcrossRestarts(t *testing.T) {
	in := PlanInput{Schedule: "@every 20s", CreationTime: friday2200UTC}
	before, err := Plan(in, friday2200UTC.Add(20*time.Second+RequeueSlack))
	if err != nil || before.ScheduledTime == nil {
		t.Fatalf("first plan = %+v, %v; want a run due", before, err)
	}
	after, err := Plan(in, friday2200UTC.Add(25*time.Second))
	if err != nil || after.ScheduledTime == nil {
		t.Fatalf("plan after restart = %+v, %v; want the same run due", after, err)
	}
	if a, b := RunName("exp", *before.ScheduledTime), RunName("exp", *after.ScheduledTime); a != b {
		t.Errorf("run names differ across the restart: %q then %q", a, b)
	}
}

func sameInstant(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func show(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.String()
}

// BenchmarkPlan plans 1,000 Experiments with a mix of schedules, zones and
// deadlines, as one resync of a large cluster would: "resync" has every
// Experiment on time (the steady state), "far behind" has every one created
// 40 days ago and never run (the worst case: each walks past
// TooManyMissedThreshold). ns/experiment is ns/op divided by 1,000.
func BenchmarkPlan(b *testing.B) {
	schedules := []string{"0 14 * * TUE", "*/5 * * * *", "@hourly", "@every 20s", "30 2 * * *", "0 9-17 * * MON-FRI"}
	zones := []string{"", "Asia/Seoul", "Europe/Berlin", "America/New_York"}
	now := friday2200UTC.Add(7 * time.Minute)
	build := func(onTime bool) []PlanInput {
		inputs := make([]PlanInput, 1000)
		for i := range inputs {
			in := PlanInput{
				Schedule:     schedules[i%len(schedules)],
				TimeZone:     ptr(zones[i%len(zones)]),
				CreationTime: now.AddDate(0, 0, -40),
			}
			if i%2 == 0 {
				in.StartingDeadlineSeconds = ptr[int64](300)
			}
			if onTime {
				// The last run is the most recent schedule time, or the one
				// before it: nothing or one run due, as on most reconciles.
				sched, err := Parse(in.Schedule, in.TimeZone)
				if err != nil {
					b.Fatal(err)
				}
				last, _, err := MostRecentMissed(sched, in.CreationTime, now.Add(-time.Duration(i%2)*time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				in.LastScheduleTime = &last
			}
			inputs[i] = in
		}
		return inputs
	}
	for name, inputs := range map[string][]PlanInput{"resync": build(true), "far behind": build(false)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, in := range inputs {
					if _, err := Plan(in, now); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(inputs)), "ns/experiment")
		})
	}
}

// ExamplePlan shows the controller's use: plan, then name the run after
// the scheduled time.
func ExamplePlan() {
	now := time.Date(2026, 3, 10, 5, 0, 0, 0, time.UTC)
	result, err := Plan(PlanInput{
		Schedule:                "0 14 * * TUE",
		TimeZone:                ptr("Asia/Seoul"),
		CreationTime:            now.AddDate(0, 0, -1),
		StartingDeadlineSeconds: ptr[int64](300),
	}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(RunName("checkout-pod-kill", *result.ScheduledTime))
	fmt.Println(result.Next.Format(time.RFC3339), result.RequeueAfter)
	// Output:
	// checkout-pod-kill-1773118800
	// 2026-03-17T14:00:00+09:00 168h0m0.1s
}
