package engine_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/remediation"
)

func remediateWithin(d time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		if s.Objectives == nil {
			s.Objectives = &chaosv1alpha1.ObjectivesSpec{}
		}
		s.Objectives.RemediateWithin = &metav1.Duration{Duration: d}
	}
}

// TestRemediation drives a pod kill whose checkout pod is replaced
// createdAfter the injection's second (or never), handing the engine what
// the API would list at each sample, as the run controller does.
func TestRemediation(t *testing.T) {
	podDown := script{"checkout-ready": {bad: []span{during(inj(1*sec), inj(6*sec))}}}
	cases := map[string]struct {
		opts         []option
		createdAfter time.Duration // after the injection's second; zero: no replacement
		verdict      chaosv1alpha1.Verdict
		objective    chaosv1alpha1.ObjectiveStatus // of remediateWithin; "" when not judged
		summary      []string
		notObserved  string
	}{
		"replaced inside remediateWithin, passes naming what started it": {
			opts: []option{remediateWithin(10 * sec)}, createdAfter: 2 * sec,
			verdict: chaosv1alpha1.VerdictPassed, objective: chaosv1alpha1.ObjectiveMet,
			summary: []string{"remediation started in", "ReplicaSet shop/checkout-7d9 created pod checkout-7d9-x2k (default for podKill)", "(objective 10s: met)"},
		},
		"replaced after remediateWithin, fails": {
			opts: []option{remediateWithin(2 * sec)}, createdAfter: 4 * sec,
			verdict: chaosv1alpha1.VerdictFailed, objective: chaosv1alpha1.ObjectiveMissed,
			summary: []string{"(objective 2s: missed)"},
		},
		"never replaced under remediateWithin, fails saying what was not seen": {
			opts:    []option{remediateWithin(5 * sec)},
			verdict: chaosv1alpha1.VerdictFailed, objective: chaosv1alpha1.ObjectiveMissed,
			summary:     []string{"no remediation seen: no pod of Deployment shop/checkout created to replace shop/checkout-a (default for podKill) (objective 5s: missed)"},
			notObserved: "no pod of Deployment shop/checkout",
		},
		"never replaced without an objective, passes and records what was not seen": {
			verdict:     chaosv1alpha1.VerdictPassed,
			notObserved: "no pod of Deployment shop/checkout",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := start(t, world{spec: podKill(tc.opts...), script: podDown})
			var created time.Time
			for d.step() {
				st := d.run.Status
				if st.Timeline.InjectedAt == nil {
					continue
				}
				for i := range st.Targets {
					st.Targets[i].OwnerKind, st.Targets[i].OwnerName = "Deployment", "checkout"
					st.Targets[i].UID = types.UID("uid-" + st.Targets[i].Name)
				}
				if created.IsZero() && tc.createdAfter > 0 {
					created = st.Timeline.InjectedAt.Truncate(sec).Add(tc.createdAfter)
				}
				// What the API lists now: the replacement once it exists,
				// and a pod of the same workload from before the injection.
				obs := remediation.Observations{Pods: []remediation.Pod{{
					Namespace: "shop", Name: "checkout-7d9-old", UID: "uid-old",
					Controller: remediation.Owner{Namespace: "shop", Kind: "ReplicaSet", Name: "checkout-7d9"},
					Workload:   remediation.Owner{Namespace: "shop", Kind: "Deployment", Name: "checkout"},
					CreatedAt:  st.Timeline.InjectedAt.Truncate(sec).Add(-time.Minute),
				}}}
				if !created.IsZero() && !d.now.Before(created) {
					obs.Pods = append(obs.Pods, remediation.Pod{
						Namespace: "shop", Name: "checkout-7d9-x2k", UID: "uid-x2k",
						Controller: remediation.Owner{Namespace: "shop", Kind: "ReplicaSet", Name: "checkout-7d9"},
						Workload:   remediation.Owner{Namespace: "shop", Kind: "Deployment", Name: "checkout"},
						CreatedAt:  created,
					})
				}
				if len(d.run.RemediationRules()) > 0 {
					d.run.ApplyRemediation(obs)
				}
			}
			st := d.finish()
			if st.Verdict != tc.verdict {
				t.Errorf("verdict = %s, want %s (%s)", st.Verdict, tc.verdict, st.Message)
			}
			if tc.createdAfter > 0 {
				if st.Timeline.RemediationStartedAt == nil || !st.Timeline.RemediationStartedAt.Time.Equal(created) {
					t.Errorf("remediationStartedAt = %v, want the replacement's creation %s", st.Timeline.RemediationStartedAt, created)
				}
				want := created.Sub(st.Timeline.InjectedAt.Time).Round(time.Millisecond)
				if st.Result.TimeToRemediate == nil || st.Result.TimeToRemediate.Duration != want {
					t.Errorf("timeToRemediate = %v, want %s", st.Result.TimeToRemediate, want)
				}
				if !hasInstantResolution(st, "remediationStartedAt", chaosv1alpha1.ResolutionEvent) {
					t.Errorf("timeline.resolutions = %+v, want remediationStartedAt from Event", st.Timeline.Resolutions)
				}
			} else if st.Timeline.RemediationStartedAt != nil || st.Result.TimeToRemediate != nil {
				t.Errorf("remediationStartedAt = %v, timeToRemediate = %v; want neither without a replacement", st.Timeline.RemediationStartedAt, st.Result.TimeToRemediate)
			}
			if tc.notObserved != "" && (st.Remediation == nil || !strings.Contains(st.Remediation.NotObserved, tc.notObserved)) {
				t.Errorf("remediation = %+v, want notObserved saying %q", st.Remediation, tc.notObserved)
			}
			got := chaosv1alpha1.ObjectiveStatus("")
			for _, o := range st.Result.Objectives {
				if o.Name == "remediateWithin" {
					got = o.Status
				}
			}
			if got != tc.objective {
				t.Errorf("remediateWithin = %q, want %q", got, tc.objective)
			}
			for _, s := range tc.summary {
				if !strings.Contains(st.Message, s) {
					t.Errorf("message %q does not say %q", st.Message, s)
				}
			}
		})
	}
}

// An istio fault has no remediation by default: the run asks for no
// observation, and its status says none was declared.
func TestIstioHasNoDefaultRemediation(t *testing.T) {
	d := start(t, world{spec: istio(5 * sec), script: script{"success-rate": {bad: []span{during(inj(1*sec), inj(5*sec))}}}})
	for d.step() {
		if rules := d.run.RemediationRules(); len(rules) > 0 {
			t.Fatalf("an istio run asked for remediation rules %+v", rules)
		}
	}
	st := d.finish()
	if st.Remediation == nil || !strings.HasPrefix(st.Remediation.NotObserved, "no remediation declared") {
		t.Errorf("remediation = %+v, want notObserved saying no remediation was declared", st.Remediation)
	}
}
