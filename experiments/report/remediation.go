package report

import (
	"strings"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// objectiveRemediate is the remediation objective's name.
const objectiveRemediate = "remediateWithin"

// Remediation is when automatic remediation of the fault began and what
// began it, or what was looked for and not seen.
type Remediation struct {
	// StartedAt is timeline.remediationStartedAt.
	StartedAt *Instant `json:"startedAt,omitempty"`
	// StartedBy says what began it: "ReplicaSet shop/checkout-7d9 created
	// pod checkout-7d9-x2k".
	StartedBy string `json:"startedBy,omitempty"`
	// Rule is what made it count: "default for podKill" or
	// "remediation.matchers[0]".
	Rule string `json:"rule,omitempty"`
	// NotObserved says what was looked for and not seen, or that no
	// remediation was declared.
	NotObserved string `json:"notObserved,omitempty"`
	// Text says it in one line: "remediation started at +1.2s: ReplicaSet
	// shop/checkout-7d9 created pod checkout-7d9-x2k (default for podKill)".
	Text string `json:"text"`
}

// remediationOf summarises a run's remediation; nil when nothing was
// injected or the run holds no word on remediation (finished before it
// was recorded).
func remediationOf(st *chaosv1alpha1.ExperimentRunStatus, origin *time.Time) *Remediation {
	if st.Timeline.InjectedAt == nil {
		return nil
	}
	r := &Remediation{StartedAt: instant(st.Timeline.RemediationStartedAt, origin)}
	if rs := st.Remediation; rs != nil {
		r.StartedBy, r.Rule, r.NotObserved = rs.StartedBy, rs.Rule, rs.NotObserved
	}
	switch {
	case r.StartedAt != nil:
		r.Text = "remediation started at " + offsetText(r.StartedAt)
		if r.StartedBy != "" {
			r.Text += ": " + r.StartedBy
		}
		if r.Rule != "" {
			r.Text += " (" + r.Rule + ")"
		}
	case strings.HasPrefix(r.NotObserved, "no remediation declared"):
		r.Text = r.NotObserved
	case r.NotObserved != "":
		r.Text = "no remediation observed: " + r.NotObserved
	default:
		return nil
	}
	return r
}

// remediationText is the report's remediation line, or none.
func remediationText(s Summary) string {
	if s.Remediation == nil {
		return none
	}
	return s.Remediation.Text
}
