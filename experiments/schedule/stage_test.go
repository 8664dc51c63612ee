package schedule

import (
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestStagedUntil(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		annotation string
		want       time.Time
		wait       bool
	}{
		"no annotation starts at once":          {},
		"a time ahead waits":                    {annotation: "2026-12-01T14:00:10Z", want: now.Add(10 * time.Second), wait: true},
		"the time itself starts":                {annotation: "2026-12-01T14:00:00Z"},
		"a past time starts":                    {annotation: "2026-12-01T13:59:00Z"},
		"a minute ahead waits":                  {annotation: "2026-12-01T14:01:00Z", want: now.Add(time.Minute), wait: true},
		"further than a minute ahead is moot":   {annotation: "2026-12-01T14:01:01Z"},
		"an unreadable annotation starts":       {annotation: "tomorrow"},
		"an offset is read as the same instant": {annotation: "2026-12-01T15:00:05+01:00", want: now.Add(5 * time.Second), wait: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{}
			if tc.annotation != "" {
				ann[chaosv1alpha1.ScheduledAtAnnotation] = tc.annotation
			}
			got, wait := StagedUntil(ann, now)
			if wait != tc.wait || !got.Equal(tc.want) {
				t.Errorf("StagedUntil(%q) = %s, %t; want %s, %t", tc.annotation, got, wait, tc.want, tc.wait)
			}
		})
	}
}
