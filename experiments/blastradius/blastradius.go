// Package blastradius decides which objects a run may hurt. It is pure: the
// caller lists the candidates and the policy, and passes the randomness, so a
// selection can be replayed from a seed and tested without an API server.
//
// Selection runs in a fixed order, each step only ever narrowing the set:
// match the target spec, drop the ineligible (not running, terminating,
// protected, not allowed, the operator's own), pick by mode, cap by
// maxTargets, cap each workload by the policy's share.
package blastradius

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ErrNoTargets means nothing could be targeted. The error that wraps it says
// how many candidates there were and why each was left out, summarised, so a
// run's message tells the user what to fix.
var ErrNoTargets = errors.New("no eligible targets")

// Workload is the controller a pod belongs to, as far as the caller resolved
// it: a Deployment rather than its ReplicaSet, so that pods of two ReplicaSets
// in the middle of a rollout count as one workload.
type Workload struct {
	// Kind of the workload, such as Deployment or StatefulSet.
	Kind string
	// Name of the workload.
	Name string
}

// String renders the workload as Kind/name.
func (w Workload) String() string { return w.Kind + "/" + w.Name }

// Candidate is one object the caller found that a run might target. The
// pod-only fields are ignored for other kinds.
type Candidate struct {
	// Kind of the object.
	Kind chaosv1alpha1.TargetKind
	// Namespace of the object; empty for Nodes.
	Namespace string
	// Name of the object.
	Name string
	// UID of the object, recorded in status so a same-named replacement is
	// never mistaken for the target.
	UID types.UID
	// ResourceVersion of the object as listed, so a fault can act on
	// exactly the version that was selected.
	ResourceVersion string
	// Labels of the object, matched against the target's selector.
	Labels map[string]string

	// Phase of a pod.
	Phase corev1.PodPhase
	// Terminating is true when a pod's deletionTimestamp is set: it is already
	// going away, so killing it proves nothing and counts it twice.
	Terminating bool
	// Ready is whether a pod's Ready condition is True. It does not affect
	// eligibility (killing a running pod that is not ready is still a valid
	// experiment); it is kept for the report.
	Ready bool
	// Owner is the pod's workload. The zero value means a bare pod, which is
	// its own workload of one: nothing replaces it once killed.
	Owner Workload
	// NodeName is the node a pod runs on.
	NodeName string
}

// key names the candidate as namespace/name, the order results are sorted in.
func (c Candidate) key() string {
	if c.Namespace == "" {
		return c.Name
	}
	return c.Namespace + "/" + c.Name
}

// workloadKey groups pods of one workload; a bare pod is a workload of its own.
func (c Candidate) workloadKey() string {
	if c.Owner == (Workload{}) {
		return c.Namespace + "/Pod/" + c.Name
	}
	return c.Namespace + "/" + c.Owner.String()
}

// FromPod describes pod as a Candidate. The owner is the pod's controller; a
// ReplicaSet named after the pod's pod-template-hash label is taken to be a
// Deployment's and reported as that Deployment, the way the Deployment
// controller names them. A caller that resolves owners through the API may
// overwrite Owner.
func FromPod(pod *corev1.Pod) Candidate {
	c := Candidate{
		Kind:      chaosv1alpha1.TargetPod,
		Namespace: pod.Namespace,
		Name:      pod.Name,
		UID:       pod.UID,
		Labels:    pod.Labels,
		Phase:     pod.Status.Phase,
		// The version listed: a kill conditioned on it acts on exactly
		// the pod that was judged eligible.
		ResourceVersion: pod.ResourceVersion,
		Terminating:     pod.DeletionTimestamp != nil,
		NodeName:        pod.Spec.NodeName,
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			c.Ready = cond.Status == corev1.ConditionTrue
		}
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		c.Owner = Workload{Kind: ref.Kind, Name: ref.Name}
		hash := pod.Labels["pod-template-hash"]
		if ref.Kind == "ReplicaSet" && hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			c.Owner = Workload{Kind: "Deployment", Name: strings.TrimSuffix(ref.Name, "-"+hash)}
		}
	}
	return c
}

// Rules are the guardrails of the ChaosPolicy and of the operator itself,
// resolved by the caller into plain values.
type Rules struct {
	// AllowedNamespaces are the namespaces whose objects may be targeted. Nil
	// allows every namespace; an empty, non-nil set allows none.
	AllowedNamespaces sets.Set[string]
	// ProtectedNamespaces are never targeted, whatever else says so.
	ProtectedNamespaces sets.Set[string]
	// OperatorNamespace is the operator's own namespace, always protected:
	// a run that killed the operator could not revert its own fault.
	OperatorNamespace string
	// OperatorLabels identify the operator's own pods in any namespace (a pod
	// carrying every one of them is never targeted), for an operator that is
	// not confined to OperatorNamespace. Empty matches no pod.
	OperatorLabels map[string]string
	// MaxWorkloadPercent caps the share of one workload's eligible pods a run
	// may target, 1 to 100; 0 means no cap. See Select.
	MaxWorkloadPercent int32
}

// Eligible says whether c may be targeted under rules and, when not, why, in
// a few words fit for a run's message. It does not look at the target spec.
func Eligible(c Candidate, rules Rules) (ok bool, why string) {
	if c.Namespace != "" {
		if c.Namespace == rules.OperatorNamespace {
			return false, "in the operator's namespace " + c.Namespace
		}
		if rules.ProtectedNamespaces.Has(c.Namespace) {
			return false, "in protected namespace " + c.Namespace
		}
		if rules.AllowedNamespaces != nil && !rules.AllowedNamespaces.Has(c.Namespace) {
			return false, "namespace " + c.Namespace + " not enabled for chaos"
		}
	}
	if c.Kind != chaosv1alpha1.TargetPod {
		return true, ""
	}
	if len(rules.OperatorLabels) > 0 && labels.SelectorFromSet(rules.OperatorLabels).Matches(labels.Set(c.Labels)) {
		return false, "the operator's own pod"
	}
	if c.Terminating {
		return false, "terminating"
	}
	if c.Phase != corev1.PodRunning {
		phase := string(c.Phase)
		if phase == "" {
			phase = "unknown"
		}
		return false, "not running (" + phase + ")"
	}
	return true, ""
}

// Selection is the outcome of Select.
type Selection struct {
	// Targets, sorted by namespace/name so status does not churn between
	// reconciles.
	Targets []Candidate
	// Notes say, in words, what was left out or capped and why, such as
	// "capped at maxTargets 3 of 5 wanted". Runs put them in their message.
	Notes []string
}

// Message joins the notes into one line for a run's message.
func (s Selection) Message() string { return strings.Join(s.Notes, "; ") }

// Select picks the targets of a run from cands.
//
// A candidate must match spec (kind; namespaces and names when set; the
// selector when set) and be Eligible under rules. An empty spec.Namespaces is
// not checked here: the caller defaults it to the Experiment's namespace when
// it lists the candidates. Of the n eligible candidates, mode One picks 1,
// Count picks value (at most n), Percent picks floor(n*value/100) but at least
// 1, and All picks n. maxTargets then caps that number.
//
// MaxWorkloadPercent caps each workload at floor(e*pct/100) targets, where e
// is the number of that workload's eligible pods: pods already down do not
// enlarge the share that may be taken down. When that is 0 the workload cannot
// be targeted at all; in particular a bare pod (a workload of one) cannot,
// unless pct is 100, since nothing would replace it. Candidates are taken in a
// random order and one whose workload is full is skipped for the next, so
// the cap narrows who is picked before it shrinks how many.
//
// rnd is the only source of randomness: the same seed and inputs give the same
// selection. When nothing can be targeted the error wraps ErrNoTargets.
func Select(cands []Candidate, spec chaosv1alpha1.TargetSpec, rules Rules, rnd *rand.Rand) (Selection, error) {
	if rnd == nil {
		return Selection{}, errors.New("blast radius: no source of randomness")
	}
	if rules.MaxWorkloadPercent < 0 || rules.MaxWorkloadPercent > 100 {
		return Selection{}, fmt.Errorf("blast radius: maxWorkloadPercent %d is not between 1 and 100", rules.MaxWorkloadPercent)
	}
	if spec.MaxTargets != nil && *spec.MaxTargets < 1 {
		return Selection{}, fmt.Errorf("blast radius: maxTargets %d is less than 1", *spec.MaxTargets)
	}
	matches, err := matcher(spec)
	if err != nil {
		return Selection{}, err
	}

	var matched, eligible []Candidate
	left := tally{}
	for _, c := range cands {
		if !matches(c) {
			continue
		}
		matched = append(matched, c)
		if ok, why := Eligible(c, rules); !ok {
			left.add(why)
			continue
		}
		eligible = append(eligible, c)
	}
	if len(eligible) == 0 {
		if len(matched) == 0 {
			return Selection{}, fmt.Errorf("%w: none of %d candidates matched the target", ErrNoTargets, len(cands))
		}
		return Selection{}, fmt.Errorf("%w: %d matched the target, none eligible: %s", ErrNoTargets, len(matched), left)
	}

	var sel Selection
	if len(left) > 0 {
		sel.Notes = append(sel.Notes, fmt.Sprintf("%d of %d matches ineligible: %s", len(matched)-len(eligible), len(matched), left))
	}
	want, err := wanted(spec, len(eligible))
	if err != nil {
		return Selection{}, err
	}
	if spec.Mode == chaosv1alpha1.SelectCount && int(*spec.Value) > len(eligible) {
		sel.Notes = append(sel.Notes, fmt.Sprintf("mode Count wants %d, only %d eligible", *spec.Value, len(eligible)))
	}
	if spec.MaxTargets != nil && want > int(*spec.MaxTargets) {
		sel.Notes = append(sel.Notes, fmt.Sprintf("capped at maxTargets %d of %d wanted", *spec.MaxTargets, want))
		want = int(*spec.MaxTargets)
	}

	// Sort before shuffling: the candidates' order is the API's list order,
	// which must not leak into a selection that a seed should reproduce.
	slices.SortFunc(eligible, byKey)
	rnd.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })

	quota := workloadQuotas(eligible, rules.MaxWorkloadPercent)
	taken := map[string]int{}
	full := map[string]bool{}
	for _, c := range eligible {
		if len(sel.Targets) == want {
			break
		}
		wk := c.workloadKey()
		if q, capped := quota[wk]; capped && taken[wk] >= q {
			full[wk] = true
			continue
		}
		taken[wk]++
		sel.Targets = append(sel.Targets, c)
	}
	for _, wk := range slices.Sorted(maps.Keys(full)) {
		sel.Notes = append(sel.Notes, fmt.Sprintf("workload %s capped at %d of its %d eligible pods (maxWorkloadPercent %d)",
			wk, quota[wk], eligibleIn(eligible, wk), rules.MaxWorkloadPercent))
	}
	if len(sel.Targets) == 0 {
		return Selection{}, fmt.Errorf("%w: %d eligible, but maxWorkloadPercent %d allows none of their workloads: %s",
			ErrNoTargets, len(eligible), rules.MaxWorkloadPercent, sel.Message())
	}
	if len(sel.Targets) < want {
		sel.Notes = append(sel.Notes, fmt.Sprintf("picked %d of %d wanted: workload caps", len(sel.Targets), want))
	}
	slices.SortFunc(sel.Targets, byKey)
	return sel, nil
}

// matcher returns whether a candidate lies inside the target spec.
func matcher(spec chaosv1alpha1.TargetSpec) (func(Candidate) bool, error) {
	selector := labels.Everything()
	if spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("blast radius: target selector: %w", err)
		}
		selector = s
	}
	namespaces := sets.New(spec.Namespaces...)
	names := sets.New(spec.Names...)
	return func(c Candidate) bool {
		return c.Kind == spec.Kind &&
			(namespaces.Len() == 0 || c.Namespace == "" || namespaces.Has(c.Namespace)) &&
			(names.Len() == 0 || names.Has(c.Name)) &&
			selector.Matches(labels.Set(c.Labels))
	}, nil
}

// wanted is how many of n eligible candidates the mode picks, before caps.
func wanted(spec chaosv1alpha1.TargetSpec, n int) (int, error) {
	switch spec.Mode {
	case chaosv1alpha1.SelectOne, "":
		return 1, nil
	case chaosv1alpha1.SelectAll:
		return n, nil
	case chaosv1alpha1.SelectCount:
		if spec.Value == nil || *spec.Value < 1 {
			return 0, errors.New("blast radius: mode Count needs a value of at least 1")
		}
		return min(int(*spec.Value), n), nil
	case chaosv1alpha1.SelectPercent:
		if spec.Value == nil || *spec.Value < 1 || *spec.Value > 100 {
			return 0, errors.New("blast radius: mode Percent needs a value between 1 and 100")
		}
		return max(1, n*int(*spec.Value)/100), nil
	default:
		return 0, fmt.Errorf("blast radius: unknown mode %q", spec.Mode)
	}
}

// workloadQuotas is how many targets each workload may give under pct; no
// entry means no cap.
func workloadQuotas(eligible []Candidate, pct int32) map[string]int {
	quota := map[string]int{}
	if pct == 0 {
		return quota
	}
	counts := map[string]int{}
	for _, c := range eligible {
		if c.Kind == chaosv1alpha1.TargetPod {
			counts[c.workloadKey()]++
		}
	}
	for wk, n := range counts {
		quota[wk] = n * int(pct) / 100
	}
	return quota
}

// eligibleIn counts the eligible pods of workload wk.
func eligibleIn(eligible []Candidate, wk string) int {
	n := 0
	for _, c := range eligible {
		if c.workloadKey() == wk {
			n++
		}
	}
	return n
}

// byKey orders candidates by namespace/name, then UID, for stable output.
func byKey(a, b Candidate) int {
	if c := strings.Compare(a.key(), b.key()); c != 0 {
		return c
	}
	return strings.Compare(string(a.UID), string(b.UID))
}

// tally counts reasons for leaving candidates out, to summarise them.
type tally map[string]int

func (t tally) add(why string) { t[why]++ }

// String lists the reasons, most frequent first, as "3 terminating, 1 in
// protected namespace kube-system".
func (t tally) String() string {
	whys := slices.Collect(maps.Keys(t))
	slices.SortFunc(whys, func(a, b string) int {
		if t[a] != t[b] {
			return t[b] - t[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(whys))
	for i, w := range whys {
		parts[i] = fmt.Sprintf("%d %s", t[w], w)
	}
	return strings.Join(parts, ", ")
}

// MayDisturb says whether a fault may touch, as a side effect, a pod in
// namespace with podLabels that it did not select: a node drain evicts
// every pod of its node, whoever they belong to. The operator's own pods are
// never disturbed (a drain that evicted the operator could not revert
// itself). Otherwise, unless allNamespaces, the pod's namespace must be one
// rules lets be targeted: enabled and not protected. Without this a drain
// asked for in one namespace evicts kube-system's DNS and the pods of teams
// that never opted in.
func MayDisturb(namespace string, podLabels map[string]string, rules Rules, allNamespaces bool) bool {
	if namespace == rules.OperatorNamespace {
		return false
	}
	if len(rules.OperatorLabels) > 0 && labels.SelectorFromSet(rules.OperatorLabels).Matches(labels.Set(podLabels)) {
		return false
	}
	if allNamespaces {
		return true
	}
	if rules.ProtectedNamespaces.Has(namespace) {
		return false
	}
	return rules.AllowedNamespaces == nil || rules.AllowedNamespaces.Has(namespace)
}
