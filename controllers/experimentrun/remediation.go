package experimentrun

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/blastradius"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/remediation"
)

// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=list
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=list

// RemediationObserver gathers from the API the object changes and Events a
// run's remediation rules look for, of objects created (or Events dated)
// no earlier than the second of since. The engine decides which matched.
type RemediationObserver interface {
	Observe(ctx context.Context, rules []remediation.Rule, since time.Time) (remediation.Observations, error)
}

// Remediation lists, straight from the API server, only what a run's rules
// name, in the namespaces they name: pods of the hit workloads' namespaces,
// Events by reason, objects of one kind by label selector. It never uses
// the manager's cache, which would start an informer on every pod of the
// cluster; the operator caches no pods.
type Remediation struct {
	// Reader reads from the API server (mgr.GetAPIReader()).
	Reader client.Reader
	// PageSize is how many objects one list request returns; zero means
	// DefaultRemediationPageSize.
	PageSize int64
	// MaxPages bounds the pages read per namespace and rule, so a namespace
	// of many thousand pods costs a bounded read; zero means
	// DefaultRemediationMaxPages.
	MaxPages int
	// Timeout bounds each list request; zero means DefaultRemediationTimeout.
	Timeout time.Duration
}

const (
	// DefaultRemediationPageSize is the page size of remediation lists.
	DefaultRemediationPageSize = 500
	// DefaultRemediationMaxPages bounds the pages read per namespace and rule.
	DefaultRemediationMaxPages = 10
	// DefaultRemediationTimeout bounds each remediation list request.
	DefaultRemediationTimeout = 5 * time.Second
)

var _ RemediationObserver = (*Remediation)(nil)

// Observe lists what rules need.
func (o *Remediation) Observe(ctx context.Context, rules []remediation.Rule, since time.Time) (remediation.Observations, error) {
	var obs remediation.Observations
	floor := since.Truncate(time.Second)
	podsRead := map[string]bool{}
	for _, rule := range rules {
		for _, ns := range rule.Namespaces {
			switch {
			case rule.Replacement != nil:
				if podsRead[ns] {
					continue
				}
				podsRead[ns] = true
				pods, err := o.pods(ctx, ns, floor)
				if err != nil {
					return obs, err
				}
				obs.Pods = append(obs.Pods, pods...)
			case rule.Event != nil:
				events, err := o.events(ctx, ns, *rule.Event, floor)
				if err != nil {
					return obs, err
				}
				obs.Events = append(obs.Events, events...)
			case rule.Created != nil:
				objects, err := o.created(ctx, ns, *rule.Created, floor)
				if err != nil {
					return obs, err
				}
				obs.Objects = append(obs.Objects, objects...)
			}
		}
	}
	return obs, nil
}

// list reads list page by page, calling each for every page, up to MaxPages.
func (o *Remediation) list(ctx context.Context, list client.ObjectList, each func(), opts ...client.ListOption) error {
	pageSize, maxPages, timeout := o.PageSize, o.MaxPages, o.Timeout
	if pageSize <= 0 {
		pageSize = DefaultRemediationPageSize
	}
	if maxPages <= 0 {
		maxPages = DefaultRemediationMaxPages
	}
	if timeout <= 0 {
		timeout = DefaultRemediationTimeout
	}
	token := ""
	for range maxPages {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		err := o.Reader.List(lctx, list, append(opts, client.Limit(pageSize), client.Continue(token))...)
		cancel()
		if err != nil {
			return err
		}
		each()
		token = list.GetContinue()
		if token == "" {
			return nil
		}
	}
	return nil
}

func (o *Remediation) pods(ctx context.Context, ns string, floor time.Time) ([]remediation.Pod, error) {
	var out []remediation.Pod
	list := &corev1.PodList{}
	err := o.list(ctx, list, func() {
		for i := range list.Items {
			p := &list.Items[i]
			// Only pods from the injection's second on can be replacements;
			// the others are not kept.
			if p.CreationTimestamp.Time.Before(floor) {
				continue
			}
			out = append(out, podObservation(p))
		}
	}, client.InNamespace(ns))
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s for remediation: %w", ns, err)
	}
	return out, nil
}

// podObservation is what remediation needs of a pod.
func podObservation(p *corev1.Pod) remediation.Pod {
	out := remediation.Pod{Namespace: p.Namespace, Name: p.Name, UID: p.UID, CreatedAt: p.CreationTimestamp.Time, NodeName: p.Spec.NodeName}
	if ref := metav1.GetControllerOf(p); ref != nil {
		out.Controller = remediation.Owner{Namespace: p.Namespace, Kind: ref.Kind, Name: ref.Name}
	}
	// The same workload a pod target records (targets.go), so a
	// replacement is matched by the rule its target wrote.
	if w := blastradius.FromPod(p).Owner; w.Kind != "" {
		out.Workload = remediation.Owner{Namespace: p.Namespace, Kind: w.Kind, Name: w.Name}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			out.ScheduledAt = c.LastTransitionTime.Time
		}
	}
	return out
}

func (o *Remediation) events(ctx context.Context, ns string, m chaosv1alpha1.RemediationEvent, floor time.Time) ([]remediation.Event, error) {
	sel := fields.Set{"reason": m.Reason}
	if m.InvolvedKind != "" {
		sel["involvedObject.kind"] = m.InvolvedKind
	}
	var out []remediation.Event
	list := &corev1.EventList{}
	err := o.list(ctx, list, func() {
		for i := range list.Items {
			if ev, ok := eventObservation(&list.Items[i], floor); ok {
				out = append(out, ev)
			}
		}
	}, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: sel.AsSelector()})
	if err != nil {
		return nil, fmt.Errorf("listing %s Events in %s for remediation: %w", m.Reason, ns, err)
	}
	return out, nil
}

// eventObservation dates an Event by its eventTime (microseconds) when its
// reporter set one, else by its first occurrence from floor on: an Event
// that recurs is one object whose lastTimestamp is its latest occurrence.
func eventObservation(e *corev1.Event, floor time.Time) (remediation.Event, bool) {
	out := remediation.Event{
		Namespace: e.Namespace, Reason: e.Reason, Message: e.Message,
		InvolvedKind: e.InvolvedObject.Kind, InvolvedName: e.InvolvedObject.Name,
	}
	switch {
	case !e.EventTime.IsZero() && !e.EventTime.Time.Before(floor):
		out.At, out.Precise = e.EventTime.Time, true
	case !e.FirstTimestamp.IsZero() && !e.FirstTimestamp.Time.Before(floor):
		out.At = e.FirstTimestamp.Time
	case !e.LastTimestamp.IsZero() && !e.LastTimestamp.Time.Before(floor):
		out.At = e.LastTimestamp.Time
	case e.Series != nil && !e.Series.LastObservedTime.IsZero() && !e.Series.LastObservedTime.Time.Before(floor):
		out.At, out.Precise = e.Series.LastObservedTime.Time, true
	default:
		return out, false
	}
	return out, true
}

// createdKinds are the kinds a creation matcher may name.
var createdKinds = map[chaosv1alpha1.RemediationCreatedKind]schema.GroupVersionKind{
	chaosv1alpha1.RemediationCreatedPod:        {Version: "v1", Kind: "PodList"},
	chaosv1alpha1.RemediationCreatedReplicaSet: {Group: "apps", Version: "v1", Kind: "ReplicaSetList"},
	chaosv1alpha1.RemediationCreatedJob:        {Group: "batch", Version: "v1", Kind: "JobList"},
}

func (o *Remediation) created(ctx context.Context, ns string, c chaosv1alpha1.RemediationCreated, floor time.Time) ([]remediation.Object, error) {
	gvk, ok := createdKinds[c.Kind]
	if !ok {
		return nil, &ConfigError{Err: fmt.Errorf("remediation created.kind %q is not Pod, ReplicaSet or Job; fix remediation.matchers", c.Kind)}
	}
	sel, err := metav1.LabelSelectorAsSelector(&c.Selector)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("remediation created.selector: %w; fix remediation.matchers", err)}
	}
	// Metadata alone: labels, owner and creation are all a creation
	// matcher reads, and a pod's spec and status are not worth the bytes.
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk)
	var out []remediation.Object
	err = o.list(ctx, list, func() {
		for i := range list.Items {
			m := &list.Items[i]
			if m.CreationTimestamp.Time.Before(floor) {
				continue
			}
			obj := remediation.Object{Kind: c.Kind, Namespace: m.Namespace, Name: m.Name, Labels: m.Labels, CreatedAt: m.CreationTimestamp.Time}
			if ref := metav1.GetControllerOf(m); ref != nil {
				obj.Controller = remediation.Owner{Namespace: m.Namespace, Kind: ref.Kind, Name: ref.Name}
			}
			out = append(out, obj)
		}
	}, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s for remediation: %w", c.Kind, ns, err)
	}
	return out, nil
}

// remediationObserver is the Reconciler's observer: Remediation when set,
// else lists through APIReader.
func (r *Reconciler) remediationObserver() RemediationObserver {
	if r.Remediation != nil {
		return r.Remediation
	}
	if r.APIReader == nil {
		return nil
	}
	return &Remediation{Reader: r.APIReader}
}

// observeRemediation gathers what the run's remediation rules look for and
// hands it to the engine, before a sample, until remediation was seen. A
// failed read is logged and tried again at the next sample: remediation is
// a measurement, and never holds up a run or its abort.
func (r *Reconciler) observeRemediation(ctx context.Context, s *scope, er engine.Run) {
	rules := er.RemediationRules()
	o := r.remediationObserver()
	if len(rules) == 0 || o == nil {
		return
	}
	obs, err := o.Observe(ctx, rules, s.run.Status.Timeline.InjectedAt.Time)
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Remediation not observed at this sample", "run", klog.KObj(s.run), "error", err.Error())
		return
	}
	s.emit(er.ApplyRemediation(obs))
}
