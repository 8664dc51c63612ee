package report

import (
	"strings"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// FuzzJUnitIsValidXML puts arbitrary text in every free-text field of a run
// a probe, the API server or a person can fill, and requires a JUnit file
// that a strict XML 1.0 parser reads whole (renderJUnit checks every token):
// in attributes, in character data and in the CDATA section of the text
// report, whatever the text holds.
func FuzzJUnitIsValidXML(f *testing.F) {
	for _, seed := range []string{
		hostile,
		"\x1b[31mconnection refused\x1b[0m",
		"\x00",
		"\uFFFE\uFFFF",
		"\xed\xa0\x80",              // a lone high surrogate, as CESU-8 would write it
		"\xed\xbf\xbf and \xed\xa0", // a lone low surrogate, and a truncated one
		"]]>",
		"]]]]><![CDATA[>",
		"a]]>b]]>]]>",
		"\r\n\t\v\f",
		"<&'\">",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		runs := map[string]*chaosv1alpha1.ExperimentRun{"failed": failedRun(), "aborted": abortedRun(), "in error": errorRun()}
		for _, r := range runs {
			r.Status.Message = "Failed: " + text
			r.Status.RequestedBy = text
			if len(r.Status.Probes) > 0 {
				r.Status.Probes[0].Name = "success-rate" + text
				r.Status.Probes[0].Errors = 1
				r.Status.Probes[0].LastError = text
			}
			if r.Status.Abort != nil {
				r.Status.Abort.Message = text
			}
			if r.Status.Result != nil && len(r.Status.Result.Objectives) > 0 {
				r.Status.Result.Objectives[0].Name = "detectWithin" + text
			}
		}
		for name, r := range runs {
			doc, _ := renderJUnit(t, r)
			if name != "failed" || strings.TrimSpace(text) != text {
				continue
			}
			// Character data is escaped, not dropped: the failure shows
			// the text as xmlText makes it readable.
			want := xmlText("Failed: " + text)
			found := false
			for _, c := range doc.Suites[0].Cases {
				if c.Failure != nil && strings.Contains(c.Failure.Body, want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failure body holds %q", want)
			}
		}
	})
}
