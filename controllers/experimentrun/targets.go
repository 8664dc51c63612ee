package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
	"github.com/faultline-dev/faultline/experiments/blastradius"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/experiments/policy"
)

// TargetSelector lists the candidates of a run, selects its targets and
// prepares what revert will need, without changing anything.
type TargetSelector interface {
	Select(ctx context.Context, run *chaosv1alpha1.ExperimentRun, ff FaultFactory) ([]chaosv1alpha1.TargetStatus, string, error)
}

// CandidateLister lists the objects of one target kind that a spec may select.
type CandidateLister func(ctx context.Context, namespaces []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error)

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
	// OperatorNode is the node the operator runs on, when known: draining
	// it could take the operator down in the middle of the run.
	OperatorNode string
	// Workers is how many targets are prepared at once; zero means
	// DefaultTargetWorkers.
	Workers int

	// mu guards rnd, which is not safe for concurrent use.
	mu  sync.Mutex
	rnd *rand.Rand
}

// NewSelector returns a Selector of pods and nodes read through c, whose
// random choices come from rnd. Other kinds are added to Listers.
func NewSelector(c client.Reader, rnd *rand.Rand, operatorNamespace string, operatorLabels map[string]string) *Selector {
	return &Selector{
		Client: c,
		Listers: map[chaosv1alpha1.TargetKind]CandidateLister{
			chaosv1alpha1.TargetPod:  ListPods(c),
			chaosv1alpha1.TargetNode: ListNodes(c),
		},
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
	rules, ns, err := s.rules(ctx)
	if err != nil {
		return nil, "", err
	}
	namespaces := spec.Target.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{run.Namespace}
	}
	cands, err := lister(ctx, namespaces, spec.Target)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s candidates: %w", spec.Target.Kind, err)
	}
	if s.OperatorNode != "" {
		cands = slices.DeleteFunc(cands, func(c blastradius.Candidate) bool {
			return c.Kind == chaosv1alpha1.TargetNode && c.Name == s.OperatorNode
		})
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
	// Each target is prepared (its restore data read) in parallel; the
	// order of sel.Targets is kept.
	prepared := make([]chaosv1alpha1.TargetStatus, len(sel.Targets))
	errs := make([]error, len(sel.Targets))
	fanOut(ctx, len(sel.Targets), s.Workers, func(ctx context.Context, i int) {
		c := sel.Targets[i]
		ts := chaosv1alpha1.TargetStatus{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, UID: c.UID, ResourceVersion: c.ResourceVersion, Phase: chaosv1alpha1.TargetSelected}
		// A pod's workload, whose new pod is its replacement: the default
		// start of remediation.
		ts.OwnerKind, ts.OwnerName = c.Owner.Kind, c.Owner.Name
		ts.Restore, errs[i] = fault.Prepare(ctx, faultTarget(run, ts))
		prepared[i] = ts
	})
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("preparing targets: %w", context.Cause(ctx))
	}
	var out []chaosv1alpha1.TargetStatus
	for i, ts := range prepared {
		switch err := errs[i]; {
		case errors.Is(err, faults.ErrTargetGone):
			// It vanished between listing and preparing: not a target.
			continue
		case err != nil:
			return nil, "", fmt.Errorf("preparing %s/%s: %w", ts.Namespace, ts.Name, err)
		}
		out = append(out, ts)
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("%w: every selected target disappeared before injection", blastradius.ErrNoTargets)
	}
	note := sel.Message()
	if len(ns.Notes) > 0 {
		// The run went ahead under a partly unreadable policy: say which part
		// and what was used instead, where the run's reader looks.
		note = strings.Join(append([]string{note}, ns.Notes...), "; ")
	}
	return out, note, nil
}

// rules resolves the ChaosPolicy into blast-radius rules, with notes on any
// part of the policy that could not be read and what was used instead.
// Without a policy the defaults of policy.ResolveNamespaces apply:
// namespaces opt in with chaos.faultline.dev/enabled=true and kube-system is
// protected. The operator's namespace and pods are never targets.
func (s *Selector) rules(ctx context.Context) (blastradius.Rules, policy.Namespaces, error) {
	p, err := chaospolicy.Get(ctx, s.Client)
	if err != nil {
		return blastradius.Rules{}, policy.Namespaces{}, err
	}
	ns := policy.ResolveNamespaces(p)
	rules := blastradius.Rules{
		ProtectedNamespaces: ns.Protected,
		OperatorNamespace:   s.OperatorNamespace,
		OperatorLabels:      s.OperatorLabels,
		MaxWorkloadPercent:  ns.MaxWorkloadPercent,
	}
	nsList := &corev1.NamespaceList{}
	if err := s.Client.List(ctx, nsList, client.MatchingLabelsSelector{Selector: ns.Selector}); err != nil {
		return rules, ns, fmt.Errorf("listing namespaces enabled for chaos: %w", err)
	}
	rules.AllowedNamespaces = sets.New[string]()
	for _, n := range nsList.Items {
		rules.AllowedNamespaces.Insert(n.Name)
	}
	return rules, ns, nil
}

// Evictable says which pods a node drain may evict under the ChaosPolicy:
// those of namespaces runs may target (enabled, not protected), or with
// drainScope AllNamespaces every pod; never the operator's own. It makes
// the Selector the faults.EvictionScope of the operator's drains, so the
// drain and target selection read the policy the same way.
func (s *Selector) Evictable(ctx context.Context) (func(*corev1.Pod) bool, error) {
	rules, ns, err := s.rules(ctx)
	if err != nil {
		return nil, err
	}
	all := ns.DrainScope == chaosv1alpha1.DrainAllNamespaces
	return func(pod *corev1.Pod) bool {
		return blastradius.MayDisturb(pod.Namespace, pod.Labels, rules, all)
	}, nil
}

var _ faults.EvictionScope = (*Selector)(nil)

// ListPods lists, through c, the pods of namespaces matching spec's selector.
func ListPods(c client.Reader) CandidateLister {
	return func(ctx context.Context, namespaces []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error) {
		opts, err := selectorOptions(spec)
		if err != nil {
			return nil, err
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
}

// ListNodes lists, through c, the nodes matching spec's selector.
func ListNodes(c client.Reader) CandidateLister {
	return func(ctx context.Context, _ []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error) {
		opts, err := selectorOptions(spec)
		if err != nil {
			return nil, err
		}
		nodes := &corev1.NodeList{}
		if err := c.List(ctx, nodes, opts...); err != nil {
			return nil, err
		}
		out := make([]blastradius.Candidate, 0, len(nodes.Items))
		for _, n := range nodes.Items {
			out = append(out, blastradius.Candidate{Kind: chaosv1alpha1.TargetNode, Name: n.Name, UID: n.UID, Labels: n.Labels})
		}
		return out, nil
	}
}

// ListVirtualServices lists, through the Istio clientset, the VirtualServices
// of namespaces matching spec's selector.
func ListVirtualServices(c istioclient.Interface) CandidateLister {
	return func(ctx context.Context, namespaces []string, spec chaosv1alpha1.TargetSpec) ([]blastradius.Candidate, error) {
		opts := metav1.ListOptions{}
		if spec.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
			if err != nil {
				return nil, fmt.Errorf("target.selector: %w", err)
			}
			opts.LabelSelector = sel.String()
		}
		var out []blastradius.Candidate
		for _, ns := range namespaces {
			list, err := c.NetworkingV1().VirtualServices(ns).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			for _, vs := range list.Items {
				out = append(out, blastradius.Candidate{Kind: chaosv1alpha1.TargetVirtualService,
					Namespace: vs.Namespace, Name: vs.Name, UID: vs.UID, Labels: vs.Labels})
			}
		}
		return out, nil
	}
}

func selectorOptions(spec chaosv1alpha1.TargetSpec) ([]client.ListOption, error) {
	if spec.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("target.selector: %w", err)
	}
	return []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}, nil
}

// isNoTargets reports whether selection found nothing eligible: a verdict for
// the run, not an error to retry.
func isNoTargets(err error) bool { return errors.Is(err, blastradius.ErrNoTargets) }
