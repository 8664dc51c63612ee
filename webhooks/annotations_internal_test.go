package webhooks

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestRunNowErrors(t *testing.T) {
	const key = chaosv1alpha1.RunNowAnnotation
	long := strings.Repeat("a", 100<<10)
	tests := map[string]struct {
		old, new map[string]string
		want     string // substring of the one problem; "" for none
	}{
		"no annotation":                         {new: map[string]string{}},
		"a build number":                        {new: map[string]string{key: "deploy-42"}},
		"a date with dots and underscores":      {new: map[string]string{key: "2026.03.01_1"}},
		"63 characters":                         {new: map[string]string{key: strings.Repeat("x", 63)}},
		"an empty value asks for nothing":       {new: map[string]string{key: ""}},
		"64 characters":                         {new: map[string]string{key: strings.Repeat("x", 64)}, want: `metadata.annotations[chaos.faultline.dev/run-now]: Invalid value: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": is 64 characters long: write a token of at most 63`},
		"100 KiB":                               {new: map[string]string{key: long}, want: `...(102400 bytes)": is 102400 characters long`},
		"a space":                               {new: map[string]string{key: "deploy 42"}, want: `Invalid value: "deploy 42": is not a run-now token: write a token`},
		"a leading dash":                        {new: map[string]string{key: "-42"}, want: "is not a run-now token"},
		"an RFC 3339 time has colons":           {new: map[string]string{key: "2026-03-01T14:00:00Z"}, want: "is not a run-now token"},
		"markup":                                {new: map[string]string{key: "[x](http://a)"}, want: "is not a run-now token"},
		"a slash":                               {new: map[string]string{key: "a/b"}, want: "is not a run-now token"},
		"a zero-width space names the char":     {new: map[string]string{key: "deploy\u200b42"}, want: "ZERO WIDTH SPACE (U+200B)"},
		"ESC names the char":                    {new: map[string]string{key: "\x1b[2J"}, want: "ESC (U+001B)"},
		"an unchanged bad value is left alone":  {old: map[string]string{key: long}, new: map[string]string{key: long}},
		"a changed bad value is refused":        {old: map[string]string{key: "ok-1"}, new: map[string]string{key: "not ok"}, want: "is not a run-now token"},
		"a bad value replaced by a good one":    {old: map[string]string{key: long}, new: map[string]string{key: "ok-2"}},
		"removing a bad value is not a problem": {old: map[string]string{key: long}, new: map[string]string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// As a refusal would show them: values cut short.
			errs := shortValues(runNowErrors(tc.old, tc.new))
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.want == "":
			case len(errs) != 1 || errs[0].Field != "metadata.annotations["+key+"]" || errs[0].Type != field.ErrorTypeInvalid:
				t.Fatalf("problems %q, want one Invalid on the annotation containing %q", errs, tc.want)
			case !strings.Contains(errs[0].Error(), tc.want):
				t.Fatalf("problem %q, want it to contain %q", errs[0].Error(), tc.want)
			case len(errs[0].Error()) > 400:
				t.Fatalf("problem is %d bytes long; the value must be cut short", len(errs[0].Error()))
			}
		})
	}
}

func TestScheduledAtErrors(t *testing.T) {
	const key = chaosv1alpha1.ScheduledAtAnnotation
	tests := map[string]struct {
		value *string
		want  string // substring of the one problem; "" for none
	}{
		"absent":                       {},
		"UTC, as the scheduler writes": {value: ptr.To("2026-03-01T14:00:00Z")},
		"with an offset":               {value: ptr.To("2026-03-01T23:00:00+09:00")},
		"with fractional seconds":      {value: ptr.To("2026-03-01T14:00:00.123456789Z")},
		"empty":                        {value: ptr.To(""), want: `metadata.annotations[chaos.faultline.dev/scheduled-at]: Invalid value: "": is not an RFC 3339 instant: write one such as "2026-03-01T14:00:00Z"`},
		"words":                        {value: ptr.To("tomorrow"), want: "is not an RFC 3339 instant"},
		"a date alone":                 {value: ptr.To("2026-03-01"), want: "is not an RFC 3339 instant"},
		"no zone":                      {value: ptr.To("2026-03-01T14:00:00"), want: "is not an RFC 3339 instant"},
		"a space for the T":            {value: ptr.To("2026-03-01 14:00:00Z"), want: "is not an RFC 3339 instant"},
		"a Unix time":                  {value: ptr.To("1772373600"), want: "is not an RFC 3339 instant"},
		"hour 25":                      {value: ptr.To("2026-03-01T25:00:00Z"), want: "is not an RFC 3339 instant"},
		"100 KiB":                      {value: ptr.To(strings.Repeat("9", 100<<10)), want: `...(102400 bytes)": is not an RFC 3339 instant`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{"other": "x"}
			if tc.value != nil {
				ann[key] = *tc.value
			}
			errs := shortValues(scheduledAtErrors(ann))
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.want != "" && len(errs) != 1:
				t.Fatalf("problems %q, want one containing %q", errs, tc.want)
			case tc.want != "" && !strings.Contains(errs[0].Error(), tc.want):
				t.Fatalf("problem %q, want it to contain %q", errs[0].Error(), tc.want)
			}
		})
	}
}
