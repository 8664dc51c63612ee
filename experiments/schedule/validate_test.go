package schedule

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestValidateSpec(t *testing.T) {
	tests := map[string]struct {
		spec chaosv1alpha1.ExperimentSpec
		want []string // the field path and a fragment of each error, in order
	}{
		"a valid schedule, zone and window has none": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "0 14 * * TUE", TimeZone: ptr("Asia/Seoul"),
				Windows: []chaosv1alpha1.TimeWindow{{Start: "10:00", End: "16:00"}}},
		},
		"an unknown time zone is the only problem named": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "not cron", TimeZone: ptr("Mars/Olympus")},
			want: []string{`spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone: use an IANA name`},
		},
		"a bad cron line is named on spec.schedule": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: "61 * * * *"},
			want: []string{`spec.schedule: Invalid value: "61 * * * *": `},
		},
		"a bad window is named by its index and part": {
			spec: chaosv1alpha1.ExperimentSpec{Windows: []chaosv1alpha1.TimeWindow{{Start: "25:00", End: "26:00"}}},
			want: []string{`spec.windows[0].start: Invalid value: "25:00": the hour must be 00 to 23`},
		},
		"an unknown day is named by its index": {
			spec: chaosv1alpha1.ExperimentSpec{Windows: []chaosv1alpha1.TimeWindow{{Days: days("Mon", "Funday"), Start: "09:00", End: "17:00"}}},
			want: []string{`spec.windows[0].days[1]: Unsupported value: "Funday": use Mon, Tue`},
		},
		"equal start and end is named on end": {
			spec: chaosv1alpha1.ExperimentSpec{Windows: []chaosv1alpha1.TimeWindow{{Start: "09:00", End: "09:00"}}},
			want: []string{`spec.windows[0].end: Invalid value: "09:00": start and end are the same: they must differ`},
		},
		"a blank schedule is required": {
			spec: chaosv1alpha1.ExperimentSpec{Schedule: " "},
			want: []string{"spec.schedule: Required value: write five fields"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ValidateSpec(&tc.spec, field.NewPath("spec"))
			if len(got) != len(tc.want) {
				t.Fatalf("ValidateSpec = %q, want %d errors like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i].Error(), w)
				}
			}
		})
	}
}
