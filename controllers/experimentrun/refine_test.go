package experimentrun_test

import (
	"context"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// rangeMetrics is the scripted Prometheus, able to evaluate a range: each
// point is the script's answer at that instant, as Prometheus evaluates a
// range query at every step.
type rangeMetrics struct{ scriptedMetrics }

func (m rangeMetrics) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]probes.Point, error) {
	var points []probes.Point
	for at := start; !at.After(end); at = at.Add(step) {
		v, err := m.Query(ctx, query, at)
		if err != nil {
			return nil, err
		}
		points = append(points, probes.Point{At: at, Value: v})
	}
	return points, nil
}

// rangeSamplers gives every run a sampler on rangeMetrics.
type rangeSamplers struct{ env *env }

func (s rangeSamplers) For(context.Context, string, *chaosv1alpha1.ExperimentSpec) (*providers.Sampler, error) {
	return &providers.Sampler{Metrics: rangeMetrics{scriptedMetrics{script: s.env}}, Reader: s.env.c}, nil
}

// TestPrometheusCrossingsAreRefinedBeforeTheVerdict runs a pod kill probed
// by the success rate alone, which the script drops from 1.5s after the
// kill until 3.7s after it. Samples every second see it fail at +2s and
// pass again at +4s; a range query at a 250ms step places the crossings at
// +1.5s and +3.75s, the first evaluations that crossed. A provider that
// cannot evaluate a range leaves the sampled instants.
func TestPrometheusCrossingsAreRefinedBeforeTheVerdict(t *testing.T) {
	const step = 250 * time.Millisecond
	tests := map[string]struct {
		canRange                    bool
		wantDeviated, wantRecovered time.Duration
		wantSource                  chaosv1alpha1.ResolutionSource
		wantWithin                  time.Duration
	}{
		"a provider that evaluates ranges: the crossings at the evaluations that crossed": {
			canRange: true, wantDeviated: 1500 * time.Millisecond, wantRecovered: 3750 * time.Millisecond,
			wantSource: chaosv1alpha1.ResolutionRangeQuery, wantWithin: step,
		},
		"a provider that cannot: the crossings at the samples": {
			wantDeviated: 2 * time.Second, wantRecovered: 4 * time.Second,
			wantSource: chaosv1alpha1.ResolutionProbeInterval, wantWithin: interval,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.createWeb()
			e.metric = func(query string, at, killedAt time.Time) (float64, error) {
				if query == successRateQuery && !killedAt.IsZero() &&
					!at.Before(killedAt.Add(1500*time.Millisecond)) && at.Before(killedAt.Add(3700*time.Millisecond)) {
					return 0.9, nil
				}
				return defaultMetric(query, at, time.Time{})
			}
			if tc.canRange {
				e.r.Samplers = rangeSamplers{env: e}
			}
			e.r.RefineStep = step
			spec := experimentSpec()
			spec.SteadyState.Probes = spec.SteadyState.Probes[1:] // the success rate alone
			exp := e.createExperiment(spec)
			key := e.createRun(exp.Name, false)

			run := e.drive(key, released)

			st := run.Status
			if st.Verdict != chaosv1alpha1.VerdictPassed {
				t.Fatalf("verdict = %s (%s), want Passed", st.Verdict, st.Message)
			}
			tl := st.Timeline
			if killed := e.kill(); tl.InjectedAt == nil || !tl.InjectedAt.Time.Equal(killed) {
				t.Fatalf("injectedAt = %v, want the kill at %s", tl.InjectedAt, killed)
			}
			if tl.DeviatedAt == nil || tl.RecoveredAt == nil {
				t.Fatalf("deviatedAt %v, recoveredAt %v: want both", tl.DeviatedAt, tl.RecoveredAt)
			}
			if got := tl.DeviatedAt.Sub(tl.InjectedAt.Time); got != tc.wantDeviated {
				t.Errorf("deviatedAt = injection+%s, want injection+%s", got, tc.wantDeviated)
			}
			if got := tl.RecoveredAt.Sub(tl.InjectedAt.Time); got != tc.wantRecovered {
				t.Errorf("recoveredAt = injection+%s, want injection+%s", got, tc.wantRecovered)
			}
			if got := st.Result.TimeToRecover; got == nil || got.Duration != tc.wantRecovered {
				t.Errorf("timeToRecover = %v, want %s", got, tc.wantRecovered)
			}
			if len(st.Result.Resolutions) != 2 {
				t.Errorf("resolutions = %+v, want timeToDetect and timeToRecover", st.Result.Resolutions)
			}
			for _, fr := range st.Result.Resolutions {
				if fr.Source != tc.wantSource || fr.Within.Duration != tc.wantWithin {
					t.Errorf("%s resolution = %s within %s, want %s within %s", fr.Figure, fr.Source, fr.Within.Duration, tc.wantSource, tc.wantWithin)
				}
			}
			if len(st.Progress.Refine) != 0 || st.Progress.RefineRequestedAt != nil {
				t.Errorf("progress still holds refinements %+v", st.Progress.Refine)
			}
		})
	}
}
