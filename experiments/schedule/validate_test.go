package schedule

import (
	"strings"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestSpecProblems(t *testing.T) {
	tests := map[string]struct {
		spec chaosv1alpha1.ExperimentSpec
		want []string // a fragment of each message, in order
	}{
		"a valid schedule, zone and window has none": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "0 14 * * TUE", TimeZone: ptr("Asia/Seoul"),
				Windows: []chaosv1alpha1.TimeWindow{{Start: "10:00", End: "16:00"}}},
		},
		"an unknown time zone is the only problem named": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "not cron", TimeZone: ptr("Mars/Olympus")},
			want: []string{"spec.timeZone: "},
		},
		"a bad cron line is named on spec.schedule": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "61 * * * *"},
			want: []string{"spec.schedule"},
		},
		"a bad window is named by its index": {
			spec: chaosv1alpha1.ExperimentSpec{Windows: []chaosv1alpha1.TimeWindow{{Start: "25:00", End: "26:00"}}},
			want: []string{"spec.windows[0]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := SpecProblems(&tc.spec)
			if len(got) != len(tc.want) {
				t.Fatalf("SpecProblems = %q, want %d problems like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
