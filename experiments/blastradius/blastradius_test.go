package blastradius

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// pod is a running pod of Deployment "app" in namespace shop unless changed.
func pod(name string, change ...func(*Candidate)) Candidate {
	c := Candidate{
		Kind:      chaosv1alpha1.TargetPod,
		Namespace: "shop",
		Name:      name,
		UID:       types.UID("uid-" + name),
		Labels:    map[string]string{"app": "checkout"},
		Phase:     corev1.PodRunning,
		Ready:     true,
		Owner:     Workload{Kind: "Deployment", Name: "checkout"},
	}
	for _, f := range change {
		f(&c)
	}
	return c
}

func inNamespace(ns string) func(*Candidate) { return func(c *Candidate) { c.Namespace = ns } }
func terminating(c *Candidate)               { c.Terminating = true }
func pending(c *Candidate)                   { c.Phase = corev1.PodPending }
func bare(c *Candidate)                      { c.Owner = Workload{} }
func ownedBy(name string) func(*Candidate) {
	return func(c *Candidate) { c.Owner = Workload{Kind: "Deployment", Name: name} }
}
func labelled(k, v string) func(*Candidate) {
	return func(c *Candidate) {
		c.Labels = map[string]string{"app": "checkout", k: v}
	}
}

// pods makes n running pods named prefix-0 .. prefix-(n-1).
func pods(prefix string, n int, change ...func(*Candidate)) []Candidate {
	out := make([]Candidate, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("%s-%d", prefix, i), change...)
	}
	return out
}

func target(mode chaosv1alpha1.SelectionMode, value int32) chaosv1alpha1.TargetSpec {
	spec := chaosv1alpha1.TargetSpec{
		Kind:     chaosv1alpha1.TargetPod,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
		Mode:     mode,
	}
	if mode == chaosv1alpha1.SelectCount || mode == chaosv1alpha1.SelectPercent {
		spec.Value = ptr.To(value)
	}
	return spec
}

func withMax(spec chaosv1alpha1.TargetSpec, maxTargets int32) chaosv1alpha1.TargetSpec {
	spec.MaxTargets = ptr.To(maxTargets)
	return spec
}

func concat(lists ...[]Candidate) []Candidate { return slices.Concat(lists...) }

func names(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.key()
	}
	return out
}

var defaultRules = Rules{
	ProtectedNamespaces: sets.New("kube-system"),
	OperatorNamespace:   "faultline-system",
}

func TestSelect(t *testing.T) {
	tests := map[string]struct {
		cands []Candidate
		spec  chaosv1alpha1.TargetSpec
		rules *Rules // defaultRules when nil

		wantCount int
		// wantTargets, when set, is the exact result (namespace/name, sorted).
		wantTargets []string
		// wantFrom, when set, is the set every target must come from.
		wantFrom []string
		// wantPerWorkload, when set, is the exact number of targets per owner name.
		wantPerWorkload map[string]int
		wantNote        string
		wantErr         error
		wantErrText     []string
	}{
		"percent 30 of 10 pods, picks 3": {
			cands:     pods("p", 10),
			spec:      target(chaosv1alpha1.SelectPercent, 30),
			wantCount: 3,
		},
		"percent rounds down: 25 of 10 pods picks 2": {
			cands:     pods("p", 10),
			spec:      target(chaosv1alpha1.SelectPercent, 25),
			wantCount: 2,
		},
		"percent rounds down but picks at least one": {
			cands:     pods("p", 5),
			spec:      target(chaosv1alpha1.SelectPercent, 10),
			wantCount: 1,
		},
		"percent 100 picks every eligible pod": {
			cands:       concat(pods("p", 3), []Candidate{pod("gone", terminating)}),
			spec:        target(chaosv1alpha1.SelectPercent, 100),
			wantTargets: []string{"shop/p-0", "shop/p-1", "shop/p-2"},
		},
		"one picks exactly one": {
			cands:     pods("p", 7),
			spec:      target(chaosv1alpha1.SelectOne, 0),
			wantCount: 1,
		},
		"empty mode means One": {
			cands:     pods("p", 7),
			spec:      target("", 0),
			wantCount: 1,
		},
		"count picks that many": {
			cands:     pods("p", 7),
			spec:      target(chaosv1alpha1.SelectCount, 4),
			wantCount: 4,
		},
		"count larger than the eligible picks them all and says so": {
			cands:       pods("p", 2),
			spec:        target(chaosv1alpha1.SelectCount, 5),
			wantTargets: []string{"shop/p-0", "shop/p-1"},
			wantNote:    "mode Count wants 5, only 2 eligible",
		},
		"all picks every eligible pod, sorted": {
			cands:       []Candidate{pod("c"), pod("a"), pod("b")},
			spec:        target(chaosv1alpha1.SelectAll, 0),
			wantTargets: []string{"shop/a", "shop/b", "shop/c"},
		},
		"maxTargets caps All": {
			cands:     pods("p", 5),
			spec:      withMax(target(chaosv1alpha1.SelectAll, 0), 3),
			wantCount: 3,
			wantNote:  "capped at maxTargets 3 of 5 wanted",
		},
		"maxTargets caps Percent": {
			cands:     pods("p", 10),
			spec:      withMax(target(chaosv1alpha1.SelectPercent, 50), 2),
			wantCount: 2,
			wantNote:  "capped at maxTargets 2 of 5 wanted",
		},
		"maxTargets above the wanted count changes nothing": {
			cands:     pods("p", 10),
			spec:      withMax(target(chaosv1alpha1.SelectCount, 2), 5),
			wantCount: 2,
		},
		"terminating pods are never picked": {
			cands:       concat(pods("gone", 5, terminating), []Candidate{pod("alive")}),
			spec:        target(chaosv1alpha1.SelectAll, 0),
			wantTargets: []string{"shop/alive"},
			wantNote:    "5 of 6 matches ineligible: 5 terminating",
		},
		"pods that are not running are never picked": {
			cands:       concat(pods("new", 3, pending), []Candidate{pod("alive")}),
			spec:        target(chaosv1alpha1.SelectAll, 0),
			wantTargets: []string{"shop/alive"},
			wantNote:    "3 not running (Pending)",
		},
		"protected namespace excluded": {
			cands: concat(pods("sys", 3, inNamespace("kube-system")), []Candidate{pod("app")}),
			spec: func() chaosv1alpha1.TargetSpec {
				s := target(chaosv1alpha1.SelectAll, 0)
				s.Namespaces = []string{"shop", "kube-system"}
				return s
			}(),
			wantTargets: []string{"shop/app"},
			wantNote:    "3 in protected namespace kube-system",
		},
		"the operator's namespace is protected without being listed": {
			cands:       concat(pods("op", 2, inNamespace("faultline-system")), []Candidate{pod("app")}),
			spec:        target(chaosv1alpha1.SelectAll, 0),
			wantTargets: []string{"shop/app"},
			wantNote:    "2 in the operator's namespace faultline-system",
		},
		"the operator's own pods are excluded in any namespace": {
			cands: []Candidate{pod("app"), pod("operator", labelled("app.kubernetes.io/name", "faultline"))},
			spec:  target(chaosv1alpha1.SelectAll, 0),
			rules: &Rules{
				OperatorNamespace: "faultline-system",
				OperatorLabels:    map[string]string{"app.kubernetes.io/name": "faultline"},
			},
			wantTargets: []string{"shop/app"},
			wantNote:    "1 the operator's own pod",
		},
		"namespaces not enabled for chaos are excluded": {
			cands:       []Candidate{pod("a"), pod("b", inNamespace("billing"))},
			spec:        target(chaosv1alpha1.SelectAll, 0),
			rules:       &Rules{AllowedNamespaces: sets.New("shop")},
			wantTargets: []string{"shop/a"},
			wantNote:    "1 namespace billing not enabled for chaos",
		},
		"no allowed set allows every namespace": {
			cands:       []Candidate{pod("a"), pod("b", inNamespace("billing"))},
			spec:        target(chaosv1alpha1.SelectAll, 0),
			rules:       &Rules{},
			wantTargets: []string{"billing/b", "shop/a"},
		},
		"an empty allowed set allows no namespace": {
			cands:   []Candidate{pod("a")},
			spec:    target(chaosv1alpha1.SelectAll, 0),
			rules:   &Rules{AllowedNamespaces: sets.New[string]()},
			wantErr: ErrNoTargets,
		},
		"the selector narrows the candidates": {
			cands: []Candidate{pod("a"), pod("b", labelled("tier", "db"))},
			spec: chaosv1alpha1.TargetSpec{
				Kind:     chaosv1alpha1.TargetPod,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}},
				Mode:     chaosv1alpha1.SelectAll,
			},
			wantTargets: []string{"shop/b"},
		},
		"names narrow the candidates": {
			cands: pods("p", 4),
			spec: chaosv1alpha1.TargetSpec{
				Kind:  chaosv1alpha1.TargetPod,
				Names: []string{"p-1", "p-3"},
				Mode:  chaosv1alpha1.SelectAll,
			},
			wantTargets: []string{"shop/p-1", "shop/p-3"},
		},
		"target namespaces narrow candidates a caller listed too widely": {
			cands: []Candidate{pod("a"), pod("b", inNamespace("billing"))},
			spec: func() chaosv1alpha1.TargetSpec {
				s := target(chaosv1alpha1.SelectAll, 0)
				s.Namespaces = []string{"billing"}
				return s
			}(),
			wantTargets: []string{"billing/b"},
		},
		"candidates of another kind never match": {
			cands: []Candidate{pod("a"), {Kind: chaosv1alpha1.TargetNode, Name: "node-1", Labels: map[string]string{"app": "checkout"}}},
			spec:  target(chaosv1alpha1.SelectAll, 0),

			wantTargets: []string{"shop/a"},
		},
		"nodes are not held to pod checks or namespaces": {
			cands: []Candidate{{Kind: chaosv1alpha1.TargetNode, Name: "node-1"}, {Kind: chaosv1alpha1.TargetNode, Name: "node-2"}},
			spec: chaosv1alpha1.TargetSpec{
				Kind:       chaosv1alpha1.TargetNode,
				Names:      []string{"node-2"},
				Namespaces: []string{"shop"},
				Mode:       chaosv1alpha1.SelectAll,
			},
			rules:       &Rules{AllowedNamespaces: sets.New("shop"), MaxWorkloadPercent: 10},
			wantTargets: []string{"node-2"},
		},
		"workload cap limits each workload's share": {
			cands:           concat(pods("a", 4, ownedBy("a")), pods("b", 5, ownedBy("b"))),
			spec:            target(chaosv1alpha1.SelectAll, 0),
			rules:           &Rules{MaxWorkloadPercent: 50},
			wantPerWorkload: map[string]int{"a": 2, "b": 2},
			wantNote:        "workload shop/Deployment/b capped at 2 of its 5 eligible pods (maxWorkloadPercent 50)",
		},
		"workload cap picks from other workloads instead of picking fewer": {
			cands:           concat(pods("a", 4, ownedBy("a")), pods("b", 4, ownedBy("b"))),
			spec:            target(chaosv1alpha1.SelectCount, 2),
			rules:           &Rules{MaxWorkloadPercent: 25},
			wantPerWorkload: map[string]int{"a": 1, "b": 1},
		},
		"workload cap that leaves fewer than wanted says so": {
			cands:           pods("a", 4, ownedBy("a")),
			spec:            target(chaosv1alpha1.SelectCount, 3),
			rules:           &Rules{MaxWorkloadPercent: 50},
			wantPerWorkload: map[string]int{"a": 2},
			wantNote:        "picked 2 of 3 wanted: workload caps",
		},
		"workload share counts only eligible pods": {
			// 4 pods, 2 already terminating: 50% of the 2 left is 1, not 2.
			cands:           concat(pods("up", 2, ownedBy("a")), pods("down", 2, ownedBy("a"), terminating)),
			spec:            target(chaosv1alpha1.SelectAll, 0),
			rules:           &Rules{MaxWorkloadPercent: 50},
			wantPerWorkload: map[string]int{"a": 1},
		},
		"a workload too small for its share cannot be targeted": {
			cands:     concat(pods("small", 1, ownedBy("small")), pods("big", 4, ownedBy("big"))),
			spec:      target(chaosv1alpha1.SelectAll, 0),
			rules:     &Rules{MaxWorkloadPercent: 50},
			wantFrom:  []string{"shop/big-0", "shop/big-1", "shop/big-2", "shop/big-3"},
			wantCount: 2,
			wantNote:  "workload shop/Deployment/small capped at 0 of its 1 eligible pods",
		},
		"a bare pod cannot be targeted under a workload cap": {
			cands:       []Candidate{pod("lonely", bare)},
			spec:        target(chaosv1alpha1.SelectAll, 0),
			rules:       &Rules{MaxWorkloadPercent: 99},
			wantErr:     ErrNoTargets,
			wantErrText: []string{"1 eligible, but maxWorkloadPercent 99 allows none", "shop/Pod/lonely capped at 0 of its 1"},
		},
		"a bare pod can be targeted without a workload cap": {
			cands:       []Candidate{pod("lonely", bare)},
			spec:        target(chaosv1alpha1.SelectAll, 0),
			wantTargets: []string{"shop/lonely"},
		},
		"nothing matching is ErrNoTargets": {
			cands:       pods("p", 3, labelled("app", "other")),
			spec:        target(chaosv1alpha1.SelectOne, 0),
			wantErr:     ErrNoTargets,
			wantErrText: []string{"none of 3 candidates matched the target"},
		},
		"no candidates at all is ErrNoTargets": {
			spec:    target(chaosv1alpha1.SelectOne, 0),
			wantErr: ErrNoTargets,
		},
		"nothing eligible is ErrNoTargets that says why": {
			cands: concat(pods("gone", 2, terminating), pods("new", 1, pending),
				pods("sys", 1, inNamespace("kube-system"))),
			spec: func() chaosv1alpha1.TargetSpec {
				s := target(chaosv1alpha1.SelectOne, 0)
				s.Namespaces = []string{"shop", "kube-system"}
				return s
			}(),
			wantErr: ErrNoTargets,
			wantErrText: []string{
				"4 matched the target, none eligible: 2 terminating, 1 in protected namespace kube-system, 1 not running (Pending)",
			},
		},
		"an invalid selector is an error, not ErrNoTargets": {
			cands: pods("p", 1),
			spec: chaosv1alpha1.TargetSpec{
				Kind: chaosv1alpha1.TargetPod,
				Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: "Sometimes"},
				}},
			},
			wantErrText: []string{"target selector"},
		},
		"percent without a value is an error": {
			cands:       pods("p", 1),
			spec:        chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod, Mode: chaosv1alpha1.SelectPercent},
			wantErrText: []string{"mode Percent needs a value"},
		},
		"an unknown mode is an error": {
			cands:       pods("p", 1),
			spec:        chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod, Mode: "Most"},
			wantErrText: []string{`unknown mode "Most"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rules := defaultRules
			if tc.rules != nil {
				rules = *tc.rules
			}
			sel, err := Select(tc.cands, tc.spec, rules, rand.New(rand.NewPCG(1, 2)))

			wantAnyErr := tc.wantErr != nil || len(tc.wantErrText) > 0
			if !wantAnyErr {
				if err != nil {
					t.Fatalf("Select: %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("Select = %v, want an error", names(sel.Targets))
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %q is not %v", err, tc.wantErr)
				}
				if tc.wantErr == nil && errors.Is(err, ErrNoTargets) {
					t.Errorf("error %q is ErrNoTargets; want a spec error", err)
				}
				for _, text := range tc.wantErrText {
					if !strings.Contains(err.Error(), text) {
						t.Errorf("error %q does not say %q", err, text)
					}
				}
				return
			}

			got := names(sel.Targets)
			if !slices.IsSorted(got) {
				t.Errorf("targets %v are not sorted", got)
			}
			if len(sets.New(got...)) != len(got) {
				t.Errorf("targets %v repeat a pod", got)
			}
			for _, c := range sel.Targets {
				if ok, why := Eligible(c, rules); !ok {
					t.Errorf("picked %s, which is ineligible: %s", c.key(), why)
				}
			}
			if tc.wantTargets != nil && !reflect.DeepEqual(got, tc.wantTargets) {
				t.Errorf("targets = %v, want %v", got, tc.wantTargets)
			}
			if tc.wantCount != 0 && len(got) != tc.wantCount {
				t.Errorf("picked %d targets %v, want %d", len(got), got, tc.wantCount)
			}
			if tc.wantFrom != nil && !sets.New(tc.wantFrom...).IsSuperset(sets.New(got...)) {
				t.Errorf("targets %v are not all from %v", got, tc.wantFrom)
			}
			if tc.wantPerWorkload != nil {
				per := map[string]int{}
				for _, c := range sel.Targets {
					per[c.Owner.Name]++
				}
				if !reflect.DeepEqual(per, tc.wantPerWorkload) {
					t.Errorf("targets per workload = %v, want %v (targets %v)", per, tc.wantPerWorkload, got)
				}
			}
			if tc.wantNote != "" && !strings.Contains(sel.Message(), tc.wantNote) {
				t.Errorf("notes %q do not say %q", sel.Message(), tc.wantNote)
			}
		})
	}
}

func TestSelectRandomness(t *testing.T) {
	cands := pods("p", 20)
	spec := target(chaosv1alpha1.SelectCount, 3)
	pick := func(seed uint64, cands []Candidate) []string {
		t.Helper()
		sel, err := Select(cands, spec, defaultRules, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatalf("Select: %v", err)
		}
		return names(sel.Targets)
	}

	tests := map[string]struct {
		check func(t *testing.T)
	}{
		"seeded randomness is reproducible": {check: func(t *testing.T) {
			for seed := range uint64(10) {
				if a, b := pick(seed, cands), pick(seed, cands); !reflect.DeepEqual(a, b) {
					t.Errorf("seed %d picked %v, then %v", seed, a, b)
				}
			}
		}},
		"the order candidates are listed in does not change the pick": {check: func(t *testing.T) {
			reversed := slices.Clone(cands)
			slices.Reverse(reversed)
			for seed := range uint64(10) {
				if a, b := pick(seed, cands), pick(seed, reversed); !reflect.DeepEqual(a, b) {
					t.Errorf("seed %d picked %v from the list, %v from it reversed", seed, a, b)
				}
			}
		}},
		"different seeds pick different pods": {check: func(t *testing.T) {
			seen := sets.New[string]()
			for seed := range uint64(20) {
				seen.Insert(strings.Join(pick(seed, cands), ","))
			}
			if seen.Len() < 5 {
				t.Errorf("20 seeds gave only %d distinct selections: %v", seen.Len(), sets.List(seen))
			}
		}},
		"a nil source of randomness is an error": {check: func(t *testing.T) {
			if _, err := Select(cands, spec, defaultRules, nil); err == nil {
				t.Error("Select with a nil rand succeeded")
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, tc.check)
	}
}

func TestEligible(t *testing.T) {
	tests := map[string]struct {
		cand    Candidate
		rules   Rules
		wantOK  bool
		wantWhy string
	}{
		"a running pod in an ordinary namespace is eligible": {
			cand: pod("a"), rules: defaultRules, wantOK: true,
		},
		"a running pod that is not ready is still eligible": {
			cand: pod("a", func(c *Candidate) { c.Ready = false }), rules: defaultRules, wantOK: true,
		},
		"a terminating pod is not": {
			cand: pod("a", terminating), rules: defaultRules, wantWhy: "terminating",
		},
		"a succeeded pod is not": {
			cand: pod("a", func(c *Candidate) { c.Phase = corev1.PodSucceeded }), rules: defaultRules,
			wantWhy: "not running (Succeeded)",
		},
		"a pod without a phase is not": {
			cand: pod("a", func(c *Candidate) { c.Phase = "" }), rules: defaultRules,
			wantWhy: "not running (unknown)",
		},
		"a protected namespace wins over an allowed one": {
			cand:    pod("a", inNamespace("kube-system")),
			rules:   Rules{AllowedNamespaces: sets.New("kube-system"), ProtectedNamespaces: sets.New("kube-system")},
			wantWhy: "in protected namespace kube-system",
		},
		"the operator's namespace wins over an allowed one": {
			cand:    pod("a", inNamespace("faultline-system")),
			rules:   Rules{AllowedNamespaces: sets.New("faultline-system"), OperatorNamespace: "faultline-system"},
			wantWhy: "in the operator's namespace faultline-system",
		},
		"empty operator labels match no pod": {
			cand: pod("a"), rules: Rules{OperatorLabels: map[string]string{}}, wantOK: true,
		},
		"operator labels must all match": {
			cand:   pod("a", labelled("app.kubernetes.io/name", "faultline")),
			rules:  Rules{OperatorLabels: map[string]string{"app.kubernetes.io/name": "faultline", "component": "manager"}},
			wantOK: true,
		},
		"a VirtualService in a protected namespace is not eligible": {
			cand:    Candidate{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "kube-system", Name: "vs"},
			rules:   defaultRules,
			wantWhy: "in protected namespace kube-system",
		},
		"a VirtualService has no phase and is eligible": {
			cand: Candidate{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "vs"}, rules: defaultRules, wantOK: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, why := Eligible(tc.cand, tc.rules)
			if ok != tc.wantOK || why != tc.wantWhy {
				t.Errorf("Eligible = %v, %q; want %v, %q", ok, why, tc.wantOK, tc.wantWhy)
			}
		})
	}
}

func TestFromPod(t *testing.T) {
	controller := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "owner", Controller: ptr.To(true)}}
	}
	deleted := metav1.Unix(1, 0)
	tests := map[string]struct {
		pod  corev1.Pod
		want Candidate
	}{
		"a Deployment's pod belongs to the Deployment, not its ReplicaSet": {
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: "shop", Name: "checkout-7d9f-x", UID: "u1",
					Labels:          map[string]string{"app": "checkout", "pod-template-hash": "7d9f"},
					OwnerReferences: controller("ReplicaSet", "checkout-7d9f"),
				},
				Spec: corev1.PodSpec{NodeName: "node-1"},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
					{Type: corev1.PodReady, Status: corev1.ConditionTrue},
				}},
			},
			want: Candidate{
				Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f-x", UID: "u1",
				Labels: map[string]string{"app": "checkout", "pod-template-hash": "7d9f"},
				Phase:  corev1.PodRunning, Ready: true, NodeName: "node-1",
				Owner: Workload{Kind: "Deployment", Name: "checkout"},
			},
		},
		"a ReplicaSet without the template hash stays a ReplicaSet": {
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Namespace: "shop", Name: "rs-x", OwnerReferences: controller("ReplicaSet", "rs"),
			}},
			want: Candidate{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "rs-x",
				Owner: Workload{Kind: "ReplicaSet", Name: "rs"}},
		},
		"a StatefulSet's terminating pod": {
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: "shop", Name: "db-0", DeletionTimestamp: &deleted,
					OwnerReferences: controller("StatefulSet", "db"),
				},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
					{Type: corev1.PodReady, Status: corev1.ConditionFalse},
				}},
			},
			want: Candidate{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "db-0",
				Phase: corev1.PodRunning, Terminating: true, Owner: Workload{Kind: "StatefulSet", Name: "db"}},
		},
		"an owner that is not the controller does not count": {
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Namespace: "shop", Name: "bare",
				OwnerReferences: []metav1.OwnerReference{{Kind: "ConfigMap", Name: "cm"}},
			}},
			want: Candidate{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "bare"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FromPod(&tc.pod); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromPod =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
