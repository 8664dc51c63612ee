package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// TestAbortDecidedAt: the decision to abort is abort.decidedAt; a run
// recorded before that field existed, whose timeline.abortedAt the API
// server no longer returns, is dated by its Aborted condition.
func TestAbortDecidedAt(t *testing.T) {
	decided := time.Date(2026, time.March, 10, 14, 0, 30, 2000, time.UTC)
	aborted := metav1.Condition{Type: chaosv1alpha1.ConditionAborted, Status: metav1.ConditionTrue,
		Reason: chaosv1alpha1.ReasonKillSwitch, LastTransitionTime: metav1.NewTime(decided.Truncate(time.Second))}
	tests := map[string]struct {
		status string // the stored status, as JSON
		want   *time.Time
	}{
		"a run that did not abort has no decision": {
			status: `{"phase":"Completed","verdict":"Passed"}`,
		},
		"decidedAt is the decision": {
			status: `{"abort":{"reason":"KillSwitch","decidedAt":"2026-03-10T14:00:30.000002Z"},
				"conditions":[{"type":"Aborted","status":"True","reason":"KillSwitch","message":"","lastTransitionTime":"2026-03-10T13:59:00Z"}]}`,
			want: &decided,
		},
		"a run stored with only timeline.abortedAt, read as the API server returns it: the Aborted condition dates it to the second": {
			status: `{"abort":{"reason":"KillSwitch"},"conditions":[{"type":"Aborted","status":"True","reason":"KillSwitch","message":"","lastTransitionTime":"2026-03-10T14:00:30Z"}]}`,
			want:   &aborted.LastTransitionTime.Time,
		},
		"a run stored with only timeline.abortedAt, decoded with the field still in it: it is ignored, the condition dates it": {
			status: `{"abort":{"reason":"KillSwitch"},"timeline":{"abortedAt":"2026-03-10T14:00:30.000002Z"},
				"conditions":[{"type":"Aborted","status":"True","reason":"KillSwitch","message":"","lastTransitionTime":"2026-03-10T14:00:30Z"}]}`,
			want: &aborted.LastTransitionTime.Time,
		},
		"an abort with neither decidedAt nor an Aborted condition has no known decision": {
			status: `{"abort":{"reason":"InjectionFailed"}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var st chaosv1alpha1.ExperimentRunStatus
			if err := json.Unmarshal([]byte(tc.status), &st); err != nil {
				t.Fatal(err)
			}
			got := engine.AbortDecidedAt(&st)
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("decided at %s, want none", got.UTC())
			case tc.want != nil && (got == nil || !got.Time.Equal(*tc.want)):
				t.Errorf("decided at %v, want %s", got, tc.want.UTC())
			}
		})
	}
}
