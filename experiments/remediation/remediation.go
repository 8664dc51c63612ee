// Package remediation decides, without I/O, when automatic remediation of a
// fault began: which rules apply to a run (the Experiment's declared
// matchers, or the fault's default), and which of the object changes and
// Events a provider gathered from the API matched first.
//
// The instants are the API's own: an object's creationTimestamp, a pod's
// PodScheduled lastTransitionTime, an Event's time. Objects keep whole
// seconds, so such an instant is known to within a second.
package remediation

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// wholeSecond is the resolution of the API's metav1.Time timestamps.
const wholeSecond = time.Second

// Owner is a workload, or a pod's controller, in a namespace.
type Owner struct {
	Namespace string
	Kind      string
	Name      string
}

func (o Owner) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

// Replacement is the default rule of the pod faults: a new pod of a hit
// pod's workload.
type Replacement struct {
	// Owners whose new pods count.
	Owners []Owner
	// Hit names the pods the fault hit, as namespace/name.
	Hit []string
	// Exclude are the UIDs of the pods the fault hit, never their own
	// replacement. A replacement may take a hit pod's name (a
	// StatefulSet's does), so pods are told apart by UID.
	Exclude []types.UID
	// Scheduled counts a replacement once it is scheduled onto a node
	// outside AvoidNodes (a drain), rather than at its creation (a kill).
	Scheduled bool
	// AvoidNodes are the drained nodes.
	AvoidNodes []string
}

// Rule is one way remediation may start, resolved for one run. Exactly one
// of Replacement, Event and Created is set.
type Rule struct {
	// Name says where the rule comes from: "default for podKill" or
	// "remediation.matchers[1]".
	Name string
	// Namespaces are where to look, sorted.
	Namespaces []string
	// Replacement is a default rule.
	Replacement *Replacement
	// Event is a declared Event matcher.
	Event *chaosv1alpha1.RemediationEvent
	// Created is a declared creation matcher.
	Created *chaosv1alpha1.RemediationCreated
}

// Pod is what a provider read of one pod.
type Pod struct {
	Namespace, Name string
	UID             types.UID
	// Controller is the pod's controller (its owner reference with
	// controller set); zero for a bare pod.
	Controller Owner
	// Workload is the pod's workload as a pod target records it: the
	// controller, or the Deployment of a ReplicaSet named after the pod's
	// pod-template-hash.
	Workload Owner
	// CreatedAt is the creationTimestamp.
	CreatedAt time.Time
	// NodeName is the node the pod is bound to; empty while unscheduled.
	NodeName string
	// ScheduledAt is the PodScheduled condition's lastTransitionTime when
	// it is True; zero otherwise.
	ScheduledAt time.Time
}

// Event is what a provider read of one core/v1 Event.
type Event struct {
	Namespace    string
	Reason       string
	InvolvedKind string
	InvolvedName string
	Message      string
	// At is the Event's eventTime (microseconds) when set, else its
	// firstTimestamp (whole seconds).
	At time.Time
	// Precise says At came from eventTime.
	Precise bool
}

// Object is what a provider read of one object a creation matcher lists.
type Object struct {
	Kind      chaosv1alpha1.RemediationCreatedKind
	Namespace string
	Name      string
	Labels    map[string]string
	// Controller is the object's controller; zero when it has none.
	Controller Owner
	CreatedAt  time.Time
}

// Observations are what a provider gathered for a run's rules. Pods
// answer Replacement rules, Events Event rules, Objects Created rules.
type Observations struct {
	Pods    []Pod
	Events  []Event
	Objects []Object
}

// Start is when remediation began, and what began it.
type Start struct {
	// At is the instant, never before the injection.
	At time.Time
	// Within is how precisely At is known: a second for the API's
	// whole-second timestamps, zero for an Event's eventTime.
	Within time.Duration
	// StartedBy says what happened: "ReplicaSet shop/checkout-7d9 created
	// pod checkout-7d9-x2k".
	StartedBy string
	// Rule is the rule's Name.
	Rule string
}

// Rules are the rules of a run whose fault hit targets: the declared
// matchers when there are any, else the fault's default. When there is no
// rule, why is the second result.
func Rules(spec *chaosv1alpha1.ExperimentSpec, targets []chaosv1alpha1.TargetStatus) ([]Rule, string) {
	if spec == nil {
		return nil, "no Experiment spec"
	}
	if spec.Remediation != nil && len(spec.Remediation.Matchers) > 0 {
		namespaces := targetNamespaces(targets)
		if len(namespaces) == 0 {
			return nil, "the fault hit no target in a namespace, so remediation.matchers had nowhere to look"
		}
		rules := make([]Rule, 0, len(spec.Remediation.Matchers))
		for i, m := range spec.Remediation.Matchers {
			rules = append(rules, Rule{
				Name:       fmt.Sprintf("remediation.matchers[%d]", i),
				Namespaces: namespaces,
				Event:      m.Event,
				Created:    m.Created,
			})
		}
		return rules, ""
	}
	switch {
	case spec.Fault.PodKill != nil:
		return podKillRule(targets)
	case spec.Fault.NodeDrain != nil:
		return nodeDrainRule(targets)
	case spec.Fault.Istio != nil:
		return nil, "no remediation declared: an istio fault has no automatic remediation by default; declare remediation.matchers to time one"
	}
	return nil, "no remediation declared"
}

func podKillRule(targets []chaosv1alpha1.TargetStatus) ([]Rule, string) {
	rep := &Replacement{}
	for _, t := range targets {
		if t.Kind != chaosv1alpha1.TargetPod || t.InjectedAt == nil {
			continue
		}
		rep.Hit = append(rep.Hit, t.Namespace+"/"+t.Name)
		if t.UID != "" {
			rep.Exclude = append(rep.Exclude, t.UID)
		}
		if t.OwnerKind != "" {
			rep.Owners = appendOwner(rep.Owners, Owner{Namespace: t.Namespace, Kind: t.OwnerKind, Name: t.OwnerName})
		}
	}
	if len(rep.Owners) == 0 {
		return nil, "no killed pod has a workload that would replace it (bare pods are not replaced)"
	}
	return []Rule{{Name: "default for podKill", Namespaces: ownerNamespaces(rep.Owners), Replacement: rep}}, ""
}

func nodeDrainRule(targets []chaosv1alpha1.TargetStatus) ([]Rule, string) {
	rep := &Replacement{Scheduled: true}
	for _, t := range targets {
		if t.Kind != chaosv1alpha1.TargetNode || t.Restore == nil || t.Restore.Node == nil {
			continue
		}
		rep.AvoidNodes = append(rep.AvoidNodes, t.Name)
		for _, p := range t.Restore.Node.EvictedPods {
			rep.Hit = append(rep.Hit, p.Namespace+"/"+p.Name)
			if p.OwnerKind != "" {
				rep.Owners = appendOwner(rep.Owners, Owner{Namespace: p.Namespace, Kind: p.OwnerKind, Name: p.OwnerName})
			}
		}
	}
	if len(rep.Owners) == 0 {
		return nil, "the drain evicted no pod with a workload that would replace it"
	}
	return []Rule{{Name: "default for nodeDrain", Namespaces: ownerNamespaces(rep.Owners), Replacement: rep}}, ""
}

func appendOwner(owners []Owner, o Owner) []Owner {
	if slices.Contains(owners, o) {
		return owners
	}
	return append(owners, o)
}

func ownerNamespaces(owners []Owner) []string {
	var out []string
	for _, o := range owners {
		out = append(out, o.Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// targetNamespaces are the namespaces of the targets the fault hit, or for
// drained nodes, of the pods they evicted.
func targetNamespaces(targets []chaosv1alpha1.TargetStatus) []string {
	var out []string
	for _, t := range targets {
		if t.InjectedAt == nil {
			continue
		}
		if t.Namespace != "" {
			out = append(out, t.Namespace)
		}
		if t.Restore != nil && t.Restore.Node != nil {
			for _, p := range t.Restore.Node.EvictedPods {
				out = append(out, p.Namespace)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// First is the earliest observation that matches one of rules and happened
// at or after injectedAt, placed no earlier than injectedAt. A whole-second
// timestamp in injectedAt's own second counts: the change may have followed
// the injection within that second.
func First(rules []Rule, injectedAt time.Time, obs Observations) (Start, bool) {
	var best Start
	found := false
	consider := func(at time.Time, precise bool, startedBy, rule string) {
		within := time.Duration(0)
		floor := injectedAt
		if !precise {
			within = wholeSecond
			floor = injectedAt.Truncate(wholeSecond)
		}
		if at.Before(floor) {
			return
		}
		if at.Before(injectedAt) {
			at = injectedAt
		}
		if !found || at.Before(best.At) {
			best, found = Start{At: at, Within: within, StartedBy: startedBy, Rule: rule}, true
		}
	}
	for _, r := range rules {
		switch {
		case r.Replacement != nil:
			for _, p := range obs.Pods {
				if !slices.Contains(r.Namespaces, p.Namespace) {
					continue
				}
				if at, what, ok := matchReplacement(r.Replacement, p); ok {
					consider(at, false, what, r.Name)
				}
			}
		case r.Event != nil:
			for _, e := range obs.Events {
				if slices.Contains(r.Namespaces, e.Namespace) && MatchEvent(*r.Event, e) {
					consider(e.At, e.Precise, describeEvent(e), r.Name)
				}
			}
		case r.Created != nil:
			for _, o := range obs.Objects {
				if slices.Contains(r.Namespaces, o.Namespace) && MatchCreated(*r.Created, o) {
					consider(o.CreatedAt, false, describeCreated(o), r.Name)
				}
			}
		}
	}
	return best, found
}

// matchReplacement says whether p replaces a pod rep's fault hit, when,
// and in words.
func matchReplacement(rep *Replacement, p Pod) (time.Time, string, bool) {
	if (p.UID != "" && slices.Contains(rep.Exclude, p.UID)) || p.CreatedAt.IsZero() {
		return time.Time{}, "", false
	}
	if !slices.ContainsFunc(rep.Owners, func(o Owner) bool {
		return (o == p.Controller || o == p.Workload) && o.Kind != ""
	}) {
		return time.Time{}, "", false
	}
	by := p.Controller
	if by.Kind == "" {
		by = p.Workload
	}
	if !rep.Scheduled {
		return p.CreatedAt, fmt.Sprintf("%s created pod %s", by, p.Name), true
	}
	if p.NodeName == "" || p.ScheduledAt.IsZero() || slices.Contains(rep.AvoidNodes, p.NodeName) {
		return time.Time{}, "", false
	}
	return p.ScheduledAt, fmt.Sprintf("pod %s/%s of %s was scheduled onto node %s", p.Namespace, p.Name, by, p.NodeName), true
}

// MatchEvent says whether e matches m.
func MatchEvent(m chaosv1alpha1.RemediationEvent, e Event) bool {
	if e.Reason != m.Reason || e.At.IsZero() {
		return false
	}
	if m.InvolvedKind != "" && e.InvolvedKind != m.InvolvedKind {
		return false
	}
	if m.NamePattern != "" {
		// Admission admits only names and '*', so the pattern is never
		// malformed; a malformed one matches nothing.
		ok, err := path.Match(m.NamePattern, e.InvolvedName)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// MatchCreated says whether o matches c. A selector that does not parse
// matches nothing (admission refuses one).
func MatchCreated(c chaosv1alpha1.RemediationCreated, o Object) bool {
	if o.Kind != c.Kind || o.CreatedAt.IsZero() {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(&c.Selector)
	if err != nil || sel.Empty() {
		return false
	}
	return sel.Matches(labels.Set(o.Labels))
}

func describeEvent(e Event) string {
	s := fmt.Sprintf("Event %s on %s %s/%s", e.Reason, e.InvolvedKind, e.Namespace, e.InvolvedName)
	if msg := strings.TrimSpace(e.Message); msg != "" {
		s += ": " + truncate(msg, 200)
	}
	return s
}

func describeCreated(o Object) string {
	if o.Controller.Kind != "" {
		return fmt.Sprintf("%s created %s %s", o.Controller, strings.ToLower(string(o.Kind)), o.Name)
	}
	return fmt.Sprintf("%s %s/%s was created", o.Kind, o.Namespace, o.Name)
}

// NotObserved says what rules looked for, for a run that saw none of it.
func NotObserved(rules []Rule) string {
	var parts []string
	for _, r := range rules {
		var what string
		switch {
		case r.Replacement != nil && r.Replacement.Scheduled:
			what = fmt.Sprintf("no new pod of %s scheduled onto a node other than %s", owners(r.Replacement.Owners), strings.Join(r.Replacement.AvoidNodes, ", "))
		case r.Replacement != nil:
			what = fmt.Sprintf("no pod of %s created to replace %s", owners(r.Replacement.Owners), strings.Join(r.Replacement.Hit, ", "))
		case r.Event != nil:
			what = "no Event " + r.Event.Reason
			if r.Event.InvolvedKind != "" || r.Event.NamePattern != "" {
				what += fmt.Sprintf(" on %s %s", orAny(r.Event.InvolvedKind, "object"), orAny(r.Event.NamePattern, "*"))
			}
			what += " in " + strings.Join(r.Namespaces, ", ")
		case r.Created != nil:
			sel, _ := metav1.LabelSelectorAsSelector(&r.Created.Selector)
			what = fmt.Sprintf("no %s matching %s created in %s", r.Created.Kind, sel, strings.Join(r.Namespaces, ", "))
		}
		parts = append(parts, what+" ("+r.Name+")")
	}
	return truncate(strings.Join(parts, "; "), 1024)
}

func owners(os []Owner) string {
	var names []string
	for _, o := range os {
		names = append(names, o.String())
	}
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

func orAny(s, any string) string {
	if s == "" {
		return any
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
