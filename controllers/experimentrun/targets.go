package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/blastradius"
	"github.com/faultline-dev/faultline/experiments/faults"
)

// TargetSelector lists the candidates of a run, selects its targets and
// prepares what revert will need, without changing anything.
type TargetSelector interface {
	Select(ctx context.Context, run *chaosv1alpha1.ExperimentRun, ff FaultFactory) ([]chaosv1alpha1.TargetStatus, string, error)
}

// CandidateLister lists the objects of one target kind that a spec may select.
type CandidateLister func(ctx context.Context, c client.Reader, namespaces []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error)

// Selector is the TargetSelector of the operator.
type Selector struct {
	// Client reads candidates, namespaces and the ChaosPolicy.
	Client client.Reader
	// Listers by target kind; a kind with no lister is refused with a clear error.
	Listers map[chaosv1alpha1.TargetKind]CandidateLister
	// OperatorNamespace is never targeted.
	OperatorNamespace string
	// OperatorLabels identify the operator's own pods.
	OperatorLabels map[string]string

	// mu guards rnd, which is not safe for concurrent use.
	mu  sync.Mutex
	rnd *rand.Rand
}

// NewSelector returns a Selector whose random choices come from rnd.
func NewSelector(c client.Reader, rnd *rand.Rand, operatorNamespace string, operatorLabels map[string]string) *Selector {
	return &Selector{
		Client:            c,
		Listers:           map[chaosv1alpha1.TargetKind]CandidateLister{chaosv1alpha1.TargetPod: ListPods},
		OperatorNamespace: operatorNamespace,
		OperatorLabels:    operatorLabels,
		rnd:               rnd,
	}
}

// Select picks the run's targets under the ChaosPolicy and prepares each.
func (s *Selector) Select(ctx context.Context, run *chaosv1alpha1.ExperimentRun, ff FaultFactory) ([]chaosv1alpha1.TargetStatus, string, error) {
	spec := run.Status.Experiment
	lister, ok := s.Listers[spec.Target.Kind]
	if !ok {
		return nil, "", fmt.Errorf("%w: target kind %s is not supported by this operator", blastradius.ErrNoTargets, spec.Target.Kind)
	}
	rules, err := s.rules(ctx)
	if err != nil {
		return nil, "", err
	}
	namespaces := spec.Target.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{run.Namespace}
	}
	cands, err := lister(ctx, s.Client, namespaces, spec.Target)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s candidates: %w", spec.Target.Kind, err)
	}
	s.mu.Lock()
	sel, err := blastradius.Select(cands, spec.Target, rules, s.rnd)
	s.mu.Unlock()
	if err != nil {
		return nil, "", err
	}
	fault, err := ff.For(spec)
	if err != nil {
		return nil, "", err
	}
	var out []chaosv1alpha1.TargetStatus
	for _, c := range sel.Targets {
		ts := chaosv1alpha1.TargetStatus{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, UID: c.UID, Phase: chaosv1alpha1.TargetSelected}
		restore, err := fault.Prepare(ctx, faultTarget(run, ts))
		switch {
		case errors.Is(err, faults.ErrTargetGone):
			// It vanished between listing and preparing: not a target.
			continue
		case err != nil:
			return nil, "", fmt.Errorf("preparing %s/%s: %w", c.Namespace, c.Name, err)
		}
		ts.Restore = restore
		out = append(out, ts)
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("%w: every selected target disappeared before injection", blastradius.ErrNoTargets)
	}
	return out, sel.Message(), nil
}

// rules resolves the ChaosPolicy into blast-radius rules. Without a policy the
// defaults apply: namespaces must opt in with chaos.faultline.dev/enabled=true
// and kube-system is protected.
func (s *Selector) rules(ctx context.Context) (blastradius.Rules, error) {
	rules := blastradius.Rules{
		ProtectedNamespaces: sets.New("kube-system"),
		OperatorNamespace:   s.OperatorNamespace,
		OperatorLabels:      s.OperatorLabels,
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}
	policy := &chaosv1alpha1.ChaosPolicy{}
	err := s.Client.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, policy)
	switch {
	case err == nil:
		if policy.Spec.ProtectedNamespaces != nil {
			rules.ProtectedNamespaces = sets.New(policy.Spec.ProtectedNamespaces...)
		}
		if policy.Spec.NamespaceSelector != nil {
			selector = policy.Spec.NamespaceSelector
		}
		if policy.Spec.MaxWorkloadPercent != nil {
			rules.MaxWorkloadPercent = *policy.Spec.MaxWorkloadPercent
		}
	case client.IgnoreNotFound(err) != nil:
		return rules, fmt.Errorf("reading ChaosPolicy: %w", err)
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return rules, fmt.Errorf("ChaosPolicy namespaceSelector: %w", err)
	}
	nsList := &corev1.NamespaceList{}
	if err := s.Client.List(ctx, nsList, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return rules, fmt.Errorf("listing namespaces enabled for chaos: %w", err)
	}
	rules.AllowedNamespaces = sets.New[string]()
	for _, ns := range nsList.Items {
		rules.AllowedNamespaces.Insert(ns.Name)
	}
	return rules, nil
}

// ListPods lists the pods of namespaces matching spec's selector.
func ListPods(ctx context.Context, c client.Reader, namespaces []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error) {
	opts := []client.ListOption{}
	if spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("target.selector: %w", err)
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	var out []blastradius.Candidate
	for _, ns := range namespaces {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, append(opts, client.InNamespace(ns))...); err != nil {
			return nil, err
		}
		for i := range pods.Items {
			out = append(out, blastradius.FromPod(&pods.Items[i]))
		}
	}
	return out, nil
}

func isNoTargetsErr(err error) bool { return errors.Is(err, blastradius.ErrNoTargets) }
