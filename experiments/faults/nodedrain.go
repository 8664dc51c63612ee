package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Annotations a drain leaves on its node, next to chaosv1alpha1.RunAnnotation,
// chaosv1alpha1.ExpiryAnnotation and the label chaosv1alpha1.InjectedLabel.
// The run is an annotation on nodes, not a label, because its value
// (namespace/name) is not a valid label value.
const (
	// CordonedAnnotation is "true" on a node Faultline cordoned itself. Only
	// such a node is ever uncordoned: one that someone else cordoned carries
	// the run's annotations but not this one, and stays cordoned.
	CordonedAnnotation = "chaos.faultline.dev/cordoned"
	// DrainStartedAnnotation holds, in RFC 3339 with nanoseconds, when the
	// drain started. The drain timeout counts from it, so it must survive
	// operator restarts and lost status writes: the node is where it lives.
	DrainStartedAnnotation = "chaos.faultline.dev/drain-started"
	// EvictingAnnotation holds, as JSON, the pods the drain is about to
	// evict (namespace, name, UID and controller), written on the node
	// before each pass's evictions. A pass whose result is lost (the
	// operator dies before the run's status is written) leaves it behind,
	// and the next pass records those of its pods that are gone or leaving
	// as evicted: the run's report lists every pod the drain moved.
	EvictingAnnotation = "chaos.faultline.dev/evicting"
)

// PodNodeNameField is the field NodeDrain lists a node's pods by. The API
// server supports it as a field selector; a cached client needs an index of
// pods under this name.
const PodNodeNameField = "spec.nodeName"

// DefaultDrainTimeout is how long a drain waits on PodDisruptionBudgets when
// the spec does not say; it matches the CRD default.
const DefaultDrainTimeout = 5 * time.Minute

// ErrInProgress means a drain is under way but PodDisruptionBudgets still
// refuse some evictions and the drain timeout has not passed. Inject returned
// the restore data so far; the caller stores it and calls Inject again later.
// It is not a failure: it is how a drain that waits is made visible without
// blocking a reconcile.
var ErrInProgress = errors.New("drain in progress")

// nodeAnnotations are every annotation a drain writes, removed on revert.
var nodeAnnotations = []string{
	chaosv1alpha1.RunAnnotation,
	chaosv1alpha1.ExpiryAnnotation,
	CordonedAnnotation,
	DrainStartedAnnotation,
	EvictingAnnotation,
}

// NodeDrain cordons a node and evicts its pods, as `kubectl drain` does, one
// pass per Inject call so that a reconcile never waits on it. Revert
// uncordons the node only if this run cordoned it; evicted pods are recreated
// elsewhere by their controllers and are not brought back.
//
// Give it a client that reads from the API server rather than a cache. Its
// node writes carry a resourceVersion precondition, which a stale cache would
// turn into a string of conflicts, and a stale pod list would miss pods that
// just landed or count evicted ones again. A cached client works only if its
// cache indexes pods by PodNodeNameField.
type NodeDrain struct {
	client client.Client
	clock  clock.PassiveClock
	spec   chaosv1alpha1.NodeDrainFault
	scope  EvictionScope
}

// EvictionScope says which pods of a drained node the cluster's policy lets a
// drain evict. A node holds pods of every namespace, not only the ones its
// run may target: without a scope a drain asked for in one namespace would
// evict kube-system's DNS and the pods of teams that never opted in.
type EvictionScope interface {
	// Evictable returns whether the drain may evict pod, resolved once per
	// pass so a policy change applies to the next pass. Pods it refuses stay
	// on the cordoned node and are recorded as spared.
	Evictable(ctx context.Context) (func(pod *corev1.Pod) bool, error)
}

var _ Fault = (*NodeDrain)(nil)

// NewNodeDrain returns a NodeDrain that acts through c as spec says and
// measures its timeout with clk.
func NewNodeDrain(c client.Client, clk clock.PassiveClock, spec chaosv1alpha1.NodeDrainFault) *NodeDrain {
	return &NodeDrain{client: c, clock: clk, spec: spec}
}

// WithEvictionScope makes the drain evict only the pods scope allows, and
// returns d. The operator always sets one; without it every pod a drain
// would move is evicted, as `kubectl drain` does.
func (d *NodeDrain) WithEvictionScope(scope EvictionScope) *NodeDrain {
	d.scope = scope
	return d
}

// Prepare records whether the node is already cordoned, so that Revert leaves
// a node someone else cordoned as it was. It changes nothing. A node that is
// gone, or replaced by a same-named node with another UID, is ErrTargetGone.
//
// A node this run already cordoned counts as schedulable: otherwise a Prepare
// repeated after Inject (a retry after a lost status write) would record our
// own cordon as someone else's and the node would never be uncordoned.
func (d *NodeDrain) Prepare(ctx context.Context, t Target) (Restore, error) {
	if err := checkNodeTarget(t); err != nil {
		return nil, err
	}
	node, err := d.getNode(ctx, t)
	if err != nil {
		return nil, err
	}
	return &chaosv1alpha1.RestoreData{Node: &chaosv1alpha1.NodeRestore{
		WasUnschedulable: node.Spec.Unschedulable && !cordonedBy(node, t.Run),
	}}, nil
}

// Inject makes one pass of the drain and returns at once: it cordons the node
// (unless it was already unschedulable), then asks the eviction API to evict
// every pod a drain should move. It returns a copy of r with the pods evicted
// so far, those PodDisruptionBudgets refused in this pass, and those the
// eviction scope spared (left on the cordoned node, never evicted). The pods
// a pass is about to evict are written on the node first
// (EvictingAnnotation), so a pass whose result is lost is still accounted
// for by the next.
//
// It returns nil when every such pod was evicted or is already leaving, and
// also when the drain timeout has passed with pods still refused: the drain
// went as far as the cluster allowed, and BlockedPods says what stopped it.
// Before the timeout, refused pods yield an error wrapping ErrInProgress; the
// caller stores the returned restore data and calls Inject again later.
// Another run's drain of the same node is refused with ErrBlocked, since two
// runs sharing one cordon could not tell whose it is to undo.
//
// A pass after the drain finished writes nothing: evicted pods are gone or
// terminating, and the node already carries its marks. A node someone
// uncordoned during the drain is not cordoned again; Faultline does not fight
// people.
func (d *NodeDrain) Inject(ctx context.Context, t Target, r Restore) (Restore, error) {
	if err := checkNodeTarget(t); err != nil {
		return r, err
	}
	now := d.clock.Now()
	r = r.DeepCopy()
	if r == nil {
		r = &chaosv1alpha1.RestoreData{}
	}

	node, err := d.cordon(ctx, t, r, now)
	if err != nil {
		return r, err
	}
	started, err := time.Parse(time.RFC3339Nano, node.Annotations[DrainStartedAnnotation])
	if err != nil {
		// cordon writes a valid instant, so this means someone else wrote it.
		return r, fmt.Errorf("node %s: annotation %s: %w", node.Name, DrainStartedAnnotation, err)
	}

	evictable := func(*corev1.Pod) bool { return true }
	if d.scope != nil {
		if evictable, err = d.scope.Evictable(ctx); err != nil {
			return r, fmt.Errorf("node %s: resolving which pods the policy lets a drain evict: %w", node.Name, err)
		}
	}

	pods := &corev1.PodList{}
	if err := d.client.List(ctx, pods, client.MatchingFields{PodNodeNameField: node.Name}); err != nil {
		return r, fmt.Errorf("listing pods on node %s: %w", node.Name, err)
	}
	// Evict in a stable order so repeated passes and their reports agree.
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})

	intents := readEvicting(node)
	recordLostEvictions(r.Node, intents, pods.Items)

	var blocked, spared []string
	var toEvict []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !d.shouldEvict(pod) {
			continue
		}
		if !evictable(pod) {
			spared = append(spared, pod.Namespace+"/"+pod.Name)
			continue
		}
		toEvict = append(toEvict, pod)
	}
	// Write-ahead: the node says which pods this pass evicts before any is.
	if err := d.markEvicting(ctx, node, intents, toEvict); err != nil {
		return r, err
	}
	var errs []error
	for _, pod := range toEvict {
		evicted, err := d.evict(ctx, pod)
		switch {
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget allows no disruption now. Forcing it would
			// break the promise the budget makes, so the pod waits for a
			// later pass or the timeout.
			blocked = append(blocked, pod.Namespace+"/"+pod.Name)
		case err != nil:
			// Keep going: one failing pod must not keep the rest of the
			// node from draining.
			errs = append(errs, fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err))
		case evicted:
			recordEvicted(r.Node, pod)
		}
	}
	r.Node.BlockedPods, r.Node.BlockedPodsOmitted = capNames(blocked, chaosv1alpha1.MaxRecordedNodePods)
	// Recomputed each pass: the report lists what is on the node now.
	r.Node.SparedPods, r.Node.SparedPodsOmitted = capNames(spared, chaosv1alpha1.MaxRecordedNodePods)
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if len(blocked) == 0 {
		return r, nil
	}
	if deadline := started.Add(d.timeout()); now.Before(deadline) {
		return r, fmt.Errorf("%w: %d pods blocked by PodDisruptionBudgets, waiting until %s",
			ErrInProgress, len(blocked), deadline.UTC().Format(time.RFC3339))
	}
	return r, nil
}

// Revert uncordons the node if this run cordoned it and it is still cordoned,
// and removes the run's annotations. A node that was already unschedulable
// before the run, or that someone else cordoned, stays cordoned: the run never
// marked it as its own cordon. A node someone uncordoned during the fault is
// left schedulable, its annotations are removed, and Revert reports a
// ConflictError so the run says who undid what. A node that is gone, replaced,
// or carries no annotations of this run needs nothing.
//
// It works from the node's annotations and r alone, is idempotent, and is
// safe when Inject never ran or r is nil (a crash before Prepare's result was
// stored): then the annotations alone decide.
func (d *NodeDrain) Revert(ctx context.Context, t Target, r Restore) error {
	if t.Kind != chaosv1alpha1.TargetNode {
		return fmt.Errorf("node drain cannot act on a %s", t.Kind)
	}
	if t.Run == "" {
		return errors.New("node drain revert of " + t.Name + " names no run; refusing to touch annotations that may be another run's")
	}
	wasUnschedulable := r != nil && r.Node != nil && r.Node.WasUnschedulable
	res, err := release(ctx, d.client, t.Name, t.UID, t.Run, wasUnschedulable)
	if err != nil {
		return err
	}
	if res.uncordonedByOthers {
		return &ConflictError{Message: "node " + t.Name + " was uncordoned by someone else during the drain; left schedulable"}
	}
	return nil
}

// ReapNode reverts a drain from the node's annotations alone, for the reaper
// that cleans up after runs that are gone or overdue; the caller decides that
// node is due. It uncordons the node if Faultline cordoned it and it is still
// cordoned, and removes the drain's annotations. It acts only while the live
// node still names the run that node names, so a reaper working from a stale
// list never undoes a newer run's drain. changed reports whether it wrote the
// node.
func ReapNode(ctx context.Context, c client.Client, node *corev1.Node) (changed bool, err error) {
	run := node.Annotations[chaosv1alpha1.RunAnnotation]
	if run == "" {
		return false, nil
	}
	res, err := release(ctx, c, node.Name, node.UID, run, false)
	return res.changed, err
}

// releaseResult is what release did.
type releaseResult struct {
	// changed is true when the node was written.
	changed bool
	// uncordonedByOthers is true when the node bore our cordon mark but was
	// already schedulable: someone else uncordoned it.
	uncordonedByOthers bool
}

// release removes run's drain from the node named name: it uncordons the
// node when run cordoned it, it is still unschedulable and wasUnschedulable
// is false, and removes the drain's annotations. It does nothing to a node
// that is gone, has another UID than uid (when uid is set), or does not name
// run.
func release(ctx context.Context, c client.Client, name string, uid types.UID, run string, wasUnschedulable bool) (releaseResult, error) {
	var res releaseResult
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		res = releaseResult{}
		node := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
		if (uid != "" && node.UID != uid) || node.Annotations[chaosv1alpha1.RunAnnotation] != run {
			return nil
		}
		before := node.DeepCopy()
		if node.Annotations[CordonedAnnotation] == "true" {
			switch {
			case !node.Spec.Unschedulable:
				res.uncordonedByOthers = true
			case !wasUnschedulable:
				node.Spec.Unschedulable = false
			}
		}
		for _, key := range nodeAnnotations {
			delete(node.Annotations, key)
		}
		delete(node.Labels, chaosv1alpha1.InjectedLabel)
		// The resourceVersion precondition makes a concurrent cordon by
		// someone else a conflict to re-read, not a cordon we overwrite.
		if err := c.Patch(ctx, node, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		res.changed = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		return releaseResult{}, nil
	}
	if err != nil {
		return res, fmt.Errorf("releasing node %s: %w", name, err)
	}
	return res, nil
}

// cordon marks the node as drained by t.Run and cordons it unless r says it
// was already unschedulable, and returns the node as written. It fills in
// r.Node from the node when the caller has no restore data. Nothing is
// written when the node already carries every mark.
func (d *NodeDrain) cordon(ctx context.Context, t Target, r Restore, now time.Time) (*corev1.Node, error) {
	var node *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		if node, err = d.getNode(ctx, t); err != nil {
			return err
		}
		if owner, ok := node.Annotations[chaosv1alpha1.RunAnnotation]; ok && owner != t.Run {
			return fmt.Errorf("node %s is being drained by run %s: %w", node.Name, owner, ErrBlocked)
		}
		if r.Node == nil {
			// Prepare's result was not passed on; what it would have said is
			// still readable, since only this run's mark can be on the node.
			r.Node = &chaosv1alpha1.NodeRestore{WasUnschedulable: node.Spec.Unschedulable && !cordonedBy(node, t.Run)}
		}

		before := node.DeepCopy()
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[chaosv1alpha1.RunAnnotation] = t.Run
		node.Annotations[chaosv1alpha1.ExpiryAnnotation] = t.Expires.UTC().Format(time.RFC3339)
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		node.Labels[chaosv1alpha1.InjectedLabel] = "true"
		if _, err := time.Parse(time.RFC3339Nano, node.Annotations[DrainStartedAnnotation]); err != nil {
			node.Annotations[DrainStartedAnnotation] = now.UTC().Format(time.RFC3339Nano)
		}
		// Cordon only a node that was schedulable before the run and still
		// is, and only once: a node someone cordoned after Prepare is theirs
		// to uncordon, and a node someone uncordoned after our cordon stays
		// as they left it.
		if !r.Node.WasUnschedulable && !node.Spec.Unschedulable && node.Annotations[CordonedAnnotation] != "true" {
			node.Spec.Unschedulable = true
			node.Annotations[CordonedAnnotation] = "true"
		}
		if equality.Semantic.DeepEqual(before, node) {
			return nil
		}
		return d.client.Patch(ctx, node, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("node %s: %w", t.Name, ErrTargetGone)
	}
	if err != nil && !errors.Is(err, ErrTargetGone) && !errors.Is(err, ErrBlocked) {
		return nil, fmt.Errorf("cordoning node %s: %w", t.Name, err)
	}
	return node, err
}

// getNode reads the target node; a node that is gone or has another UID is
// ErrTargetGone.
func (d *NodeDrain) getNode(ctx context.Context, t Target) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := d.client.Get(ctx, client.ObjectKey{Name: t.Name}, node)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("node %s: %w", t.Name, ErrTargetGone)
	}
	if err != nil {
		return nil, fmt.Errorf("reading node %s: %w", t.Name, err)
	}
	if node.UID != t.UID {
		return nil, fmt.Errorf("node %s is now UID %s, not the selected %s: %w", t.Name, node.UID, t.UID, ErrTargetGone)
	}
	return node, nil
}

// shouldEvict says whether a drain moves pod. It leaves alone pods that
// eviction would not move or would lose for good:
//   - DaemonSet pods, which the DaemonSet puts straight back on the node;
//   - mirror pods, which only the kubelet's static manifest controls;
//   - pods already terminating or finished, which are leaving anyway (and a
//     second eviction would cut a graceful shutdown short);
//   - pods without a controller, which nothing would recreate: the fault
//     would outlive the run;
//   - pods with emptyDir volumes, whose data eviction destroys, unless the
//     spec says Evict.
func (d *NodeDrain) shouldEvict(pod *corev1.Pod) bool {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	owner := metav1.GetControllerOf(pod)
	if owner == nil || owner.Kind == "DaemonSet" {
		return false
	}
	if d.spec.EmptyDir != chaosv1alpha1.EmptyDirEvict && slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.EmptyDir != nil }) {
		return false
	}
	return true
}

// evict asks the eviction API to evict pod, with the selected UID as a
// precondition so a same-named replacement is never evicted in its place.
// evicted is false, with a nil error, when the pod is already gone or
// replaced. A refusal by a PodDisruptionBudget is the API's 429 error.
func (d *NodeDrain) evict(ctx context.Context, pod *corev1.Pod) (evicted bool, err error) {
	uid := pod.UID
	eviction := &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
		DeleteOptions: &metav1.DeleteOptions{
			GracePeriodSeconds: d.spec.GracePeriodSeconds,
			Preconditions:      &metav1.Preconditions{UID: &uid},
		},
	}
	err = d.client.SubResource("eviction").Create(ctx, pod, eviction)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return false, nil
	}
	return err == nil, err
}

// timeout is how long the drain waits on PodDisruptionBudgets.
func (d *NodeDrain) timeout() time.Duration {
	if d.spec.Timeout == nil {
		return DefaultDrainTimeout
	}
	return d.spec.Timeout.Duration
}

// cordonedBy says whether run cordoned node.
func cordonedBy(node *corev1.Node, run string) bool {
	return node.Annotations[CordonedAnnotation] == "true" && node.Annotations[chaosv1alpha1.RunAnnotation] == run
}

// checkNodeTarget refuses targets NodeDrain cannot act on safely. A target
// without a UID cannot be told apart from a same-named replacement node, and
// one without a run could not be marked, so neither is drained.
func checkNodeTarget(t Target) error {
	if t.Kind != chaosv1alpha1.TargetNode {
		return fmt.Errorf("node drain cannot act on a %s", t.Kind)
	}
	if t.UID == "" {
		return errors.New("node drain target " + t.Name + " has no UID; refusing to drain a node that may not be the one selected")
	}
	if t.Run == "" {
		return errors.New("node drain target " + t.Name + " names no run; refusing to leave a drain the reaper could not attribute")
	}
	return nil
}

// evictionIntent is one pod in EvictingAnnotation.
type evictionIntent struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
	OwnerKind string    `json:"ownerKind,omitempty"`
	OwnerName string    `json:"ownerName,omitempty"`
}

// readEvicting returns the pods node's EvictingAnnotation lists; none when it
// is missing or unreadable (written by someone else: nothing to trust).
func readEvicting(node *corev1.Node) []evictionIntent {
	raw, ok := node.Annotations[EvictingAnnotation]
	if !ok {
		return nil
	}
	var intents []evictionIntent
	if err := json.Unmarshal([]byte(raw), &intents); err != nil {
		return nil
	}
	return intents
}

// recordLostEvictions records as evicted the pods an earlier pass set out to
// evict that are now gone, replaced or leaving, when r does not list them:
// that pass's result was lost before it reached the run's status.
func recordLostEvictions(r *chaosv1alpha1.NodeRestore, intents []evictionIntent, pods []corev1.Pod) {
	for _, in := range intents {
		i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Namespace == in.Namespace && p.Name == in.Name })
		if i >= 0 && pods[i].UID == in.UID && pods[i].DeletionTimestamp == nil {
			continue // still there: not evicted (yet)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: in.Namespace, Name: in.Name}}
		if in.OwnerKind != "" {
			pod.OwnerReferences = []metav1.OwnerReference{{Kind: in.OwnerKind, Name: in.OwnerName, Controller: ptr.To(true)}}
		}
		recordEvicted(r, pod)
	}
}

// markEvicting adds the pods about to be evicted to node's
// EvictingAnnotation, unless it lists them already; the node is written only
// then. The write carries node's resourceVersion, re-read on a conflict.
func (d *NodeDrain) markEvicting(ctx context.Context, node *corev1.Node, intents []evictionIntent, pods []*corev1.Pod) error {
	want := slices.Clone(intents)
	for _, pod := range pods {
		if slices.ContainsFunc(want, func(in evictionIntent) bool { return in.UID == pod.UID }) {
			continue
		}
		in := evictionIntent{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
		if owner := metav1.GetControllerOf(pod); owner != nil {
			in.OwnerKind, in.OwnerName = owner.Kind, owner.Name
		}
		want = append(want, in)
	}
	if len(want) == len(intents) {
		return nil
	}
	raw, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("node %s: recording the pods to evict: %w", node.Name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		before := node.DeepCopy()
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[EvictingAnnotation] = string(raw)
		err := d.client.Patch(ctx, node, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			fresh := &corev1.Node{}
			if getErr := d.client.Get(ctx, client.ObjectKeyFromObject(node), fresh); getErr != nil {
				return getErr
			}
			*node = *fresh
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s: recording the pods to evict: %w", node.Name, err)
	}
	return nil
}
