package providers

import (
	"context"
	"errors"
	"fmt"
	"github.com/faultline-dev/faultline/experiments/probes"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// WorkloadStates answers workload probes, and says when the answer's
// pass/fail state began when it saw it begin.
type WorkloadStates interface {
	// Readiness is WorkloadReadiness's figure, and the instant the probe's
	// current pass/fail state (judged by WorkloadHypothesis) began; zero
	// when that is not known.
	Readiness(ctx context.Context, namespace string, w chaosv1alpha1.WorkloadProbe) (value float64, since time.Time, err error)
}

// WorkloadWatches answers the workload probes of one run from watches on
// the probed workloads, so a readiness change is dated by the moment the
// API server reported it rather than by the next sample.
//
// Each watch is on one named object (a field selector on metadata.name in
// its namespace): the API server sends nothing else, so memory stays flat
// however many pods or Deployments the cluster holds. A watch that ends or
// fails reconnects from the last version seen, and lists the object again
// when that version is gone; a change seen only by such a list happened
// while the watch was down, so it is not dated. Close stops every watch.
type WorkloadWatches struct {
	client client.WithWatch
	clock  clock.PassiveClock
	// syncTimeout bounds how long Readiness waits for a new watch's first list.
	syncTimeout time.Duration
	// retry is the pause before reconnecting a watch that failed.
	retry time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	watches map[watchKey]*workloadWatch
	closed  bool
}

// watchHistory is how many readiness changes a watch keeps; the oldest
// kept is treated as undated, since what came before it is forgotten.
const watchHistory = 32

type watchKey struct {
	kind      chaosv1alpha1.WorkloadKind
	namespace string
	name      string
}

// NewWorkloadWatches returns watches that read through c and date changes
// by clk, the run's clock.
func NewWorkloadWatches(c client.WithWatch, clk clock.PassiveClock) *WorkloadWatches {
	ctx, cancel := context.WithCancel(context.Background())
	return &WorkloadWatches{
		client: c, clock: clk, syncTimeout: 10 * time.Second, retry: time.Second,
		ctx: ctx, cancel: cancel, watches: map[watchKey]*workloadWatch{},
	}
}

// Close stops every watch and waits until they have stopped.
func (ws *WorkloadWatches) Close() {
	ws.mu.Lock()
	ws.closed = true
	ws.mu.Unlock()
	ws.cancel()
	ws.wg.Wait()
}

// Readiness starts a watch on w's workload if none runs yet, waits for its
// first list, and answers from what it has seen.
func (ws *WorkloadWatches) Readiness(ctx context.Context, namespace string, w chaosv1alpha1.WorkloadProbe) (float64, time.Time, error) {
	if w.Namespace != "" {
		namespace = w.Namespace
	}
	if _, err := newWorkloadList(w.Kind); err != nil {
		return 0, time.Time{}, err
	}
	key := watchKey{kind: w.Kind, namespace: namespace, name: w.Name}
	ww, err := ws.watch(key)
	if err != nil {
		return 0, time.Time{}, err
	}
	timer := time.NewTimer(ws.syncTimeout)
	defer timer.Stop()
	select {
	case <-ww.synced:
	case <-ctx.Done():
		return 0, time.Time{}, fmt.Errorf("waiting for the watch on %s %s/%s: %w", key.kind, key.namespace, key.name, ctx.Err())
	case <-timer.C:
		return 0, time.Time{}, fmt.Errorf("the watch on %s %s/%s has not listed it within %s: %v", key.kind, key.namespace, key.name, ws.syncTimeout, ww.lastError())
	}
	return ww.answer(probes.WorkloadHypothesis(w))
}

func (ws *WorkloadWatches) watch(key watchKey) (*workloadWatch, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return nil, errors.New("the run's workload watches are closed")
	}
	if ww, ok := ws.watches[key]; ok {
		return ww, nil
	}
	ww := &workloadWatch{key: key, synced: make(chan struct{})}
	ws.watches[key] = ww
	ws.wg.Go(func() { ws.run(ww) })
	return ww, nil
}

// workloadWatch is what one watch has seen of one workload.
type workloadWatch struct {
	key    watchKey
	synced chan struct{} // closed after the first list, whether it worked or not

	mu      sync.Mutex
	history []readinessChange
	err     error
}

// readinessChange is one state of the workload and when it began; at is
// zero when it is not known (seen by a list, not by a watch event).
type readinessChange struct {
	at             time.Time
	exists         bool
	ready, desired int32
}

func (c readinessChange) same(o readinessChange) bool {
	return c.exists == o.exists && c.ready == o.ready && c.desired == o.desired
}

func (ww *workloadWatch) lastError() error {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return ww.err
}

// answer is the latest readiness, and when its pass/fail state under h
// began: the first change of the unbroken run of changes with that state,
// when a watch event dated it.
func (ww *workloadWatch) answer(h chaosv1alpha1.Hypothesis) (float64, time.Time, error) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if ww.err != nil {
		// A watch that is down must not answer with what it saw last: a
		// run that cannot see the system stops hurting it.
		return 0, time.Time{}, ww.err
	}
	if len(ww.history) == 0 {
		return 0, time.Time{}, fmt.Errorf("%s %s/%s has not been read yet", ww.key.kind, ww.key.namespace, ww.key.name)
	}
	last := ww.history[len(ww.history)-1]
	if !last.exists {
		return 0, time.Time{}, fmt.Errorf("%w: %s %s/%s", ErrWorkloadNotFound, ww.key.kind, ww.key.namespace, ww.key.name)
	}
	state := func(c readinessChange) (bool, bool) {
		if !c.exists {
			return false, false
		}
		pass, err := probes.Evaluate(readyPercent(c.ready, c.desired), h)
		return pass, err == nil
	}
	current, ok := state(last)
	if !ok {
		return readyPercent(last.ready, last.desired), time.Time{}, nil
	}
	first := len(ww.history) - 1
	for first > 0 {
		pass, ok := state(ww.history[first-1])
		if !ok || pass != current {
			break
		}
		first--
	}
	return readyPercent(last.ready, last.desired), ww.history[first].at, nil
}

// record appends a state if it differs from the latest one.
func (ww *workloadWatch) record(c readinessChange) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if n := len(ww.history); n > 0 && ww.history[n-1].same(c) {
		return
	}
	ww.history = append(ww.history, c)
	if len(ww.history) > watchHistory {
		ww.history = append(ww.history[:0], ww.history[len(ww.history)-watchHistory:]...)
		// What preceded the oldest kept change is forgotten, so the state
		// it starts may have begun earlier.
		ww.history[0].at = time.Time{}
	}
}

// fail records the watch's latest error; nil once it works again.
func (ww *workloadWatch) fail(err error) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	ww.err = err
}

// run lists and watches the workload until the watches are closed,
// reconnecting after every end or error.
func (ws *WorkloadWatches) run(ww *workloadWatch) {
	syncedOnce := false
	version := ""
	for ws.ctx.Err() == nil {
		if version == "" {
			v, err := ws.list(ww)
			ww.fail(err)
			if !syncedOnce {
				// Readiness answers from now on: with the state, or with
				// the error until a list works.
				syncedOnce = true
				close(ww.synced)
			}
			if err != nil {
				ws.pause()
				continue
			}
			version = v
		}
		var err error
		version, err = ws.follow(ww, version)
		if err != nil {
			// Events replayed from an old version would be dated when they
			// arrive, not when they happened: list again instead, which
			// records what changed meanwhile as undated.
			version = ""
			ww.fail(err)
			ws.pause()
		}
	}
}

func (ws *WorkloadWatches) pause() {
	t := time.NewTimer(ws.retry)
	defer t.Stop()
	select {
	case <-ws.ctx.Done():
	case <-t.C:
	}
}

func (ws *WorkloadWatches) options(ww *workloadWatch, version string) *client.ListOptions {
	return &client.ListOptions{
		Namespace:     ww.key.namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", ww.key.name),
		Raw:           &metav1.ListOptions{ResourceVersion: version, AllowWatchBookmarks: true},
	}
}

// list reads the workload's current state, undated, and the version to
// watch from.
func (ws *WorkloadWatches) list(ww *workloadWatch) (string, error) {
	list, _ := newWorkloadList(ww.key.kind)
	ctx, cancel := context.WithTimeout(ws.ctx, 30*time.Second)
	defer cancel()
	opts := ws.options(ww, "")
	if err := ws.client.List(ctx, list, opts); err != nil {
		return "", fmt.Errorf("listing %s %s/%s: %w", ww.key.kind, ww.key.namespace, ww.key.name, err)
	}
	c := readinessChange{}
	if objs := workloadItems(list); len(objs) > 0 {
		c = readinessOf(objs[0])
	}
	ww.record(c)
	return list.GetResourceVersion(), nil
}

// follow watches from version until the watch ends; it returns the version
// to resume from, empty when the workload must be listed again.
func (ws *WorkloadWatches) follow(ww *workloadWatch, version string) (string, error) {
	list, _ := newWorkloadList(ww.key.kind)
	w, err := ws.client.Watch(ws.ctx, list, ws.options(ww, version))
	if err != nil {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return "", nil
		}
		return version, fmt.Errorf("watching %s %s/%s: %w", ww.key.kind, ww.key.namespace, ww.key.name, err)
	}
	defer w.Stop()
	ww.fail(nil)
	for {
		select {
		case <-ws.ctx.Done():
			return version, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return version, nil
			}
			switch ev.Type {
			case watch.Error:
				if status, ok := ev.Object.(*metav1.Status); ok && (status.Code == 410 || status.Reason == metav1.StatusReasonExpired) {
					return "", nil
				}
				return version, fmt.Errorf("watching %s %s/%s: %v", ww.key.kind, ww.key.namespace, ww.key.name, apierrors.FromObject(ev.Object))
			case watch.Bookmark:
				if obj, ok := ev.Object.(client.Object); ok {
					version = obj.GetResourceVersion()
				}
			case watch.Added, watch.Modified, watch.Deleted:
				obj, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				version = obj.GetResourceVersion()
				// The instant this operator learnt of the change: the API
				// server records no time of its own for a status update.
				c := readinessChange{at: ws.clock.Now()}
				if ev.Type != watch.Deleted {
					c = readinessOf(obj)
					c.at = ws.clock.Now()
				}
				ww.record(c)
			}
		}
	}
}

func newWorkloadList(kind chaosv1alpha1.WorkloadKind) (client.ObjectList, error) {
	switch kind {
	case chaosv1alpha1.WorkloadDeployment:
		return &appsv1.DeploymentList{}, nil
	case chaosv1alpha1.WorkloadStatefulSet:
		return &appsv1.StatefulSetList{}, nil
	case chaosv1alpha1.WorkloadDaemonSet:
		return &appsv1.DaemonSetList{}, nil
	}
	return nil, fmt.Errorf("workload kind %q is not Deployment, StatefulSet or DaemonSet", kind)
}

func workloadItems(list client.ObjectList) []client.Object {
	var out []client.Object
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.StatefulSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.DaemonSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}

// readinessOf is the ready and desired replicas of a workload, as
// WorkloadReadiness counts them.
func readinessOf(obj client.Object) readinessChange {
	c := readinessChange{exists: true}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		c.ready, c.desired = o.Status.ReadyReplicas, replicasOrDefault(o.Spec.Replicas)
	case *appsv1.StatefulSet:
		c.ready, c.desired = o.Status.ReadyReplicas, replicasOrDefault(o.Spec.Replicas)
	case *appsv1.DaemonSet:
		c.ready, c.desired = o.Status.NumberReady, o.Status.DesiredNumberScheduled
	}
	return c
}
