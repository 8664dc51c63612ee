package remediation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

var injectedAt = time.Date(2026, time.March, 10, 14, 0, 10, 700_000_000, time.UTC)

func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}

func podKillSpec() *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}}}
}

func killedTarget() chaosv1alpha1.TargetStatus {
	return chaosv1alpha1.TargetStatus{
		Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9-a1", UID: "uid-a1",
		OwnerKind: "Deployment", OwnerName: "checkout",
		Phase: chaosv1alpha1.TargetInjected, InjectedAt: micro(injectedAt),
	}
}

func drainTarget() chaosv1alpha1.TargetStatus {
	return chaosv1alpha1.TargetStatus{
		Kind: chaosv1alpha1.TargetNode, Name: "node-1",
		Phase: chaosv1alpha1.TargetInjected, InjectedAt: micro(injectedAt),
		Restore: &chaosv1alpha1.RestoreData{Node: &chaosv1alpha1.NodeRestore{EvictedPods: []chaosv1alpha1.EvictedPod{
			{Namespace: "shop", Name: "checkout-7d9-a1", OwnerKind: "ReplicaSet", OwnerName: "checkout-7d9"},
		}}},
	}
}

// replica is a pod of the checkout Deployment's ReplicaSet.
func replica(name string, uid string, created time.Time) Pod {
	return Pod{
		Namespace: "shop", Name: name, UID: types.UID(uid),
		Controller: Owner{Namespace: "shop", Kind: "ReplicaSet", Name: "checkout-7d9"},
		Workload:   Owner{Namespace: "shop", Kind: "Deployment", Name: "checkout"},
		CreatedAt:  created,
	}
}

func TestRules(t *testing.T) {
	tests := map[string]struct {
		spec    *chaosv1alpha1.ExperimentSpec
		targets []chaosv1alpha1.TargetStatus
		want    []string // rule names
		why     string   // part of the reason when there is no rule
	}{
		"pod kill of a Deployment's pod, the replacement by default": {
			spec: podKillSpec(), targets: []chaosv1alpha1.TargetStatus{killedTarget()},
			want: []string{"default for podKill"},
		},
		"pod kill of a bare pod, nothing replaces it": {
			spec: podKillSpec(),
			targets: []chaosv1alpha1.TargetStatus{func() chaosv1alpha1.TargetStatus {
				t := killedTarget()
				t.OwnerKind, t.OwnerName = "", ""
				return t
			}()},
			why: "bare pods",
		},
		"pod kill whose target was never injected, no rule": {
			spec: podKillSpec(),
			targets: []chaosv1alpha1.TargetStatus{func() chaosv1alpha1.TargetStatus {
				t := killedTarget()
				t.InjectedAt = nil
				return t
			}()},
			why: "no killed pod",
		},
		"drain, the evicted pod's replacement scheduled by default": {
			spec:    &chaosv1alpha1.ExperimentSpec{Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}}},
			targets: []chaosv1alpha1.TargetStatus{drainTarget()},
			want:    []string{"default for nodeDrain"},
		},
		"istio, no remediation by default": {
			spec: &chaosv1alpha1.ExperimentSpec{Fault: chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{}}},
			targets: []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "checkout",
				Phase: chaosv1alpha1.TargetInjected, InjectedAt: micro(injectedAt)}},
			why: "no remediation declared",
		},
		"declared matchers replace the default": {
			spec: func() *chaosv1alpha1.ExperimentSpec {
				s := podKillSpec()
				s.Remediation = &chaosv1alpha1.RemediationSpec{Matchers: []chaosv1alpha1.RemediationMatcher{
					{Event: &chaosv1alpha1.RemediationEvent{Reason: "SuccessfulCreate"}},
					{Created: &chaosv1alpha1.RemediationCreated{Kind: chaosv1alpha1.RemediationCreatedJob}},
				}}
				return s
			}(),
			targets: []chaosv1alpha1.TargetStatus{killedTarget()},
			want:    []string{"remediation.matchers[0]", "remediation.matchers[1]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rules, why := Rules(tc.spec, tc.targets)
			var got []string
			for _, r := range rules {
				got = append(got, r.Name)
				if len(r.Namespaces) != 1 || r.Namespaces[0] != "shop" {
					t.Errorf("rule %s looks in %v, want [shop]", r.Name, r.Namespaces)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
			if tc.why != "" && !strings.Contains(why, tc.why) {
				t.Errorf("reason %q does not say %q", why, tc.why)
			}
			if len(tc.want) > 0 && why != "" {
				t.Errorf("reason %q given although there are rules", why)
			}
		})
	}
}

func TestFirst(t *testing.T) {
	second := injectedAt.Truncate(time.Second)
	later := second.Add(2 * time.Second)
	killRules, _ := Rules(podKillSpec(), []chaosv1alpha1.TargetStatus{killedTarget()})
	drainRules, _ := Rules(&chaosv1alpha1.ExperimentSpec{Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}}},
		[]chaosv1alpha1.TargetStatus{drainTarget()})
	eventRules := []Rule{{Name: "remediation.matchers[0]", Namespaces: []string{"shop"},
		Event: &chaosv1alpha1.RemediationEvent{Reason: "SuccessfulCreate", InvolvedKind: "ReplicaSet", NamePattern: "checkout-*"}}}
	createdRules := []Rule{{Name: "remediation.matchers[0]", Namespaces: []string{"shop"},
		Created: &chaosv1alpha1.RemediationCreated{Kind: chaosv1alpha1.RemediationCreatedReplicaSet,
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}}}}

	scheduled := func(p Pod, node string, at time.Time) Pod {
		p.Controller = Owner{Namespace: "shop", Kind: "ReplicaSet", Name: "checkout-7d9"}
		p.NodeName, p.ScheduledAt = node, at
		return p
	}

	tests := map[string]struct {
		rules     []Rule
		obs       Observations
		want      time.Time // zero: none
		within    time.Duration
		startedBy string
	}{
		"the replacement's creation, a later second": {
			rules: killRules,
			obs: Observations{Pods: []Pod{
				replica("checkout-7d9-b2", "uid-b2", second.Add(-time.Hour)),
				replica("checkout-7d9-x2k", "uid-x2k", later),
			}},
			want: later, within: time.Second, startedBy: "ReplicaSet shop/checkout-7d9 created pod checkout-7d9-x2k",
		},
		"a creation in the injection's own second is placed at the injection": {
			rules: killRules,
			obs:   Observations{Pods: []Pod{replica("checkout-7d9-x2k", "uid-x2k", second)}},
			want:  injectedAt, within: time.Second, startedBy: "created pod checkout-7d9-x2k",
		},
		"the earliest of two replacements": {
			rules: killRules,
			obs: Observations{Pods: []Pod{
				replica("checkout-7d9-late", "uid-l", later.Add(3*time.Second)),
				replica("checkout-7d9-x2k", "uid-x2k", later),
			}},
			want: later, within: time.Second, startedBy: "checkout-7d9-x2k",
		},
		"pods from before the injection's second are not replacements": {
			rules: killRules,
			obs:   Observations{Pods: []Pod{replica("checkout-7d9-b2", "uid-b2", second.Add(-time.Second))}},
		},
		"the killed pod itself is no replacement, even dated later": {
			rules: killRules,
			obs:   Observations{Pods: []Pod{replica("checkout-7d9-a1", "uid-a1", later)}},
		},
		"a StatefulSet's replacement keeps the killed pod's name": {
			rules: []Rule{{Name: "default for podKill", Namespaces: []string{"shop"}, Replacement: &Replacement{
				Owners: []Owner{{Namespace: "shop", Kind: "StatefulSet", Name: "db"}}, Exclude: []types.UID{"uid-db0"},
			}}},
			obs: Observations{Pods: []Pod{{Namespace: "shop", Name: "db-0", UID: "uid-db0-new",
				Controller: Owner{Namespace: "shop", Kind: "StatefulSet", Name: "db"},
				Workload:   Owner{Namespace: "shop", Kind: "StatefulSet", Name: "db"}, CreatedAt: later}}},
			want: later, within: time.Second, startedBy: "StatefulSet shop/db created pod db-0",
		},
		"another workload's new pod does not count": {
			rules: killRules,
			obs: Observations{Pods: []Pod{{Namespace: "shop", Name: "cart-1", UID: "u",
				Controller: Owner{Namespace: "shop", Kind: "ReplicaSet", Name: "cart-1f"},
				Workload:   Owner{Namespace: "shop", Kind: "Deployment", Name: "cart"}, CreatedAt: later}}},
		},
		"the same workload in another namespace does not count": {
			rules: killRules,
			obs: Observations{Pods: []Pod{func() Pod {
				p := replica("checkout-7d9-x2k", "u", later)
				p.Namespace = "staging"
				p.Controller.Namespace, p.Workload.Namespace = "staging", "staging"
				return p
			}()}},
		},
		"drain: the replacement counts once scheduled onto another node": {
			rules: drainRules,
			obs: Observations{Pods: []Pod{
				scheduled(replica("checkout-7d9-x2k", "u1", later), "", time.Time{}),
				scheduled(replica("checkout-7d9-y3", "u2", later), "node-2", later.Add(time.Second)),
			}},
			want: later.Add(time.Second), within: time.Second, startedBy: "pod shop/checkout-7d9-y3 of ReplicaSet shop/checkout-7d9 was scheduled onto node node-2",
		},
		"drain: a pod scheduled back onto the drained node does not count": {
			rules: drainRules,
			obs:   Observations{Pods: []Pod{scheduled(replica("checkout-7d9-x2k", "u1", later), "node-1", later)}},
		},
		"event: the ReplicaSet's SuccessfulCreate, dated by its eventTime": {
			rules: eventRules,
			obs: Observations{Events: []Event{
				{Namespace: "shop", Reason: "SuccessfulCreate", InvolvedKind: "ReplicaSet", InvolvedName: "cart-1f", At: later, Precise: true},
				{Namespace: "shop", Reason: "SuccessfulCreate", InvolvedKind: "ReplicaSet", InvolvedName: "checkout-7d9",
					Message: "Created pod: checkout-7d9-x2k", At: injectedAt.Add(120 * time.Millisecond), Precise: true},
			}},
			want: injectedAt.Add(120 * time.Millisecond), startedBy: "Event SuccessfulCreate on ReplicaSet shop/checkout-7d9: Created pod: checkout-7d9-x2k",
		},
		"event: another reason or kind does not match": {
			rules: eventRules,
			obs: Observations{Events: []Event{
				{Namespace: "shop", Reason: "SuccessfulDelete", InvolvedKind: "ReplicaSet", InvolvedName: "checkout-7d9", At: later},
				{Namespace: "shop", Reason: "SuccessfulCreate", InvolvedKind: "Job", InvolvedName: "checkout-7d9", At: later},
			}},
		},
		"event: a precise time before the injection does not count": {
			rules: eventRules,
			obs: Observations{Events: []Event{{Namespace: "shop", Reason: "SuccessfulCreate", InvolvedKind: "ReplicaSet",
				InvolvedName: "checkout-7d9", At: injectedAt.Add(-time.Millisecond), Precise: true}}},
		},
		"created: a ReplicaSet with the selected labels": {
			rules: createdRules,
			obs: Observations{Objects: []Object{
				{Kind: chaosv1alpha1.RemediationCreatedReplicaSet, Namespace: "shop", Name: "cart-2", Labels: map[string]string{"app": "cart"}, CreatedAt: later},
				{Kind: chaosv1alpha1.RemediationCreatedReplicaSet, Namespace: "shop", Name: "checkout-8f1", Labels: map[string]string{"app": "checkout"},
					Controller: Owner{Namespace: "shop", Kind: "Deployment", Name: "checkout"}, CreatedAt: later.Add(time.Second)},
			}},
			want: later.Add(time.Second), within: time.Second, startedBy: "Deployment shop/checkout created replicaset checkout-8f1",
		},
		"created: a Job does not answer a ReplicaSet matcher": {
			rules: createdRules,
			obs: Observations{Objects: []Object{{Kind: chaosv1alpha1.RemediationCreatedJob, Namespace: "shop", Name: "fix",
				Labels: map[string]string{"app": "checkout"}, CreatedAt: later}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := First(tc.rules, injectedAt, tc.obs)
			if tc.want.IsZero() {
				if ok {
					t.Fatalf("First = %+v, want no match", got)
				}
				return
			}
			if !ok {
				t.Fatalf("First found nothing, want %s", tc.want)
			}
			if !got.At.Equal(tc.want) || got.Within != tc.within {
				t.Errorf("First at %s within %s, want %s within %s", got.At, got.Within, tc.want, tc.within)
			}
			if !strings.Contains(got.StartedBy, tc.startedBy) {
				t.Errorf("startedBy %q, want it to say %q", got.StartedBy, tc.startedBy)
			}
			if got.Rule != tc.rules[0].Name {
				t.Errorf("rule %q, want %q", got.Rule, tc.rules[0].Name)
			}
		})
	}
}

func TestNotObservedSaysWhatWasLookedFor(t *testing.T) {
	rules, _ := Rules(podKillSpec(), []chaosv1alpha1.TargetStatus{killedTarget()})
	got := NotObserved(rules)
	for _, want := range []string{"Deployment shop/checkout", "shop/checkout-7d9-a1", "default for podKill"} {
		if !strings.Contains(got, want) {
			t.Errorf("NotObserved = %q, want it to name %q", got, want)
		}
	}
}
