package policy

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

// DefaultProtectedNamespaces are never targeted when the ChaosPolicy does not
// say otherwise (or there is none).
var DefaultProtectedNamespaces = []string{"kube-system"}

// DefaultNamespaceSelector is the opt-in label selector used when the
// ChaosPolicy names none, or names one that cannot be read.
func DefaultNamespaceSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{chaosv1alpha1.EnabledNamespaceLabel: "true"})
}

// Namespaces is what the ChaosPolicy says about which namespaces runs may
// reach, resolved to values a selector and a drain can use.
type Namespaces struct {
	// Selector picks the namespaces that opted in to being targeted.
	Selector labels.Selector
	// Protected namespaces are never targeted, whatever their labels.
	Protected sets.Set[string]
	// DrainScope says which pods a node drain may evict.
	DrainScope chaosv1alpha1.DrainScope
	// MaxWorkloadPercent caps the share of one workload a run may target;
	// zero means no cap.
	MaxWorkloadPercent int32
	// Notes say which fields could not be read and what was used instead,
	// for the run's message.
	Notes []string
}

// ResolveNamespaces turns p (nil: no ChaosPolicy) into Namespaces. An
// invalid namespaceSelector falls back to the default opt-in label and says
// so in Notes: refusing every run over one bad field would let a typo stop
// chaos cluster-wide, and allowing every namespace would be worse.
func ResolveNamespaces(p *chaosv1alpha1.ChaosPolicy) Namespaces {
	ns := Namespaces{
		Selector:   DefaultNamespaceSelector(),
		Protected:  sets.New(DefaultProtectedNamespaces...),
		DrainScope: chaosv1alpha1.DrainEnabledNamespaces,
	}
	if p == nil {
		return ns
	}
	if p.Spec.ProtectedNamespaces != nil {
		ns.Protected = sets.New(p.Spec.ProtectedNamespaces...)
	}
	if p.Spec.DrainScope == chaosv1alpha1.DrainAllNamespaces {
		ns.DrainScope = chaosv1alpha1.DrainAllNamespaces
	}
	if p.Spec.MaxWorkloadPercent != nil {
		ns.MaxWorkloadPercent = *p.Spec.MaxWorkloadPercent
	}
	if p.Spec.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
		if err != nil {
			ns.Notes = append(ns.Notes, fmt.Sprintf("the ChaosPolicy's spec.namespaceSelector is invalid (%v); namespaces labelled %s=true were used instead; see the ChaosPolicy's status",
				err, chaosv1alpha1.EnabledNamespaceLabel))
		} else {
			ns.Selector = sel
		}
	}
	return ns
}

// Validate returns, one per problem, what in p cannot be used and what to
// write instead; nil when p is sound. The ChaosPolicy controller reports
// them on the policy (Stalled); the operator meanwhile applies the rest of
// the policy and ignores, or replaces by its default, what it cannot read.
func Validate(p *chaosv1alpha1.ChaosPolicy) []string {
	var problems []string
	if s := p.Spec.NamespaceSelector; s != nil {
		if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
			problems = append(problems, fmt.Sprintf("spec.namespaceSelector: %v; write a valid label selector such as {matchLabels: {%s: \"true\"}} (namespaces labelled %s=true are used meanwhile)",
				err, chaosv1alpha1.EnabledNamespaceLabel, chaosv1alpha1.EnabledNamespaceLabel))
		}
	}
	for i, a := range p.Spec.AllowedProviderAddresses {
		if err := ValidateAllowedAddress(a); err != nil {
			problems = append(problems, fmt.Sprintf("spec.allowedProviderAddresses[%d]: %v (the address is ignored meanwhile)", i, err))
		}
	}
	if err := schedule.ValidateBlackouts(p.Spec.BlackoutWindows); err != nil {
		for _, e := range unjoin(err) {
			problems = append(problems, e.Error()+" (the window is ignored meanwhile)")
		}
	}
	return problems
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
