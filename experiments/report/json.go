package report

import (
	"encoding/json"
	"io"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// JSON writes the Summary of run as indented JSON. The schema is Summary's,
// named by its "schema" field (SchemaVersion), and deliberately not the raw
// ExperimentRun: scripts read figures as {text, seconds} and the timeline as
// ordered events with offsets, and need not follow the API's internals such
// as restore data or the state machine's progress.
func JSON(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Messages and PromQL carry <, > and &; escaping them for HTML would make
	// the report harder to read and to grep.
	enc.SetEscapeHTML(false)
	return enc.Encode(Summarize(run))
}
