//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Helpers of the testbed benchmarks (bench_*_test.go) that only they use:
// the table's number formats and a watch that times pod deletions. The
// kwok nodes, namespaces and Deployments of kwok pods, and the operator's
// memory and CPU read from /proc, are e2e/harness's, shared with the soak
// and the suite. The benchmarks measure whatever operator binary TestMain
// built from this tree.

// thousands writes n with a comma between thousands, as the table does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// percentOfCore formats a share of one core.
func percentOfCore(share float64) string { return fmt.Sprintf("%.2f%% of a core", 100*share) }

// --- timing pod deletions ----------------------------------------------------------

// deletionWatch records when each of a set of pods is first seen deleted
// (deletionTimestamp set, or gone) by a watch of its own: the same
// observer for every way of killing pods, on the same clock as the
// operator's status timestamps (this machine's).
type deletionWatch struct {
	// Pods are the pods being timed, as listed when the watch started.
	Pods []corev1.Pod

	mu   sync.Mutex
	want map[types.UID]bool
	seen map[types.UID]time.Time
	last time.Time
	err  error
	done chan struct{}
}

// watchDeletions lists the pods of namespace matching selector and watches
// them from that list's resourceVersion, so no deletion after the list is
// missed. The watch ends with ctx.
func watchDeletions(ctx context.Context, cs kubernetes.Interface, namespace, selector string) (*deletionWatch, error) {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods %s in %s: %w", selector, namespace, err)
	}
	w := &deletionWatch{Pods: list.Items, want: map[types.UID]bool{}, seen: map[types.UID]time.Time{}, done: make(chan struct{})}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			w.want[p.UID] = true
		}
	}
	rv := list.ResourceVersion
	open := func() (watch.Interface, error) {
		return cs.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{
			LabelSelector: selector, ResourceVersion: rv, TimeoutSeconds: ptr.To[int64](3600),
		})
	}
	wi, err := open()
	if err != nil {
		return nil, fmt.Errorf("watching pods %s in %s: %w", selector, namespace, err)
	}
	go func() {
		defer wi.Stop()
		for {
			ev, ok := <-wi.ResultChan()
			if !ok {
				// The apiserver ends watches now and then; go on from the
				// last version seen.
				if ctx.Err() != nil {
					return
				}
				if wi, err = open(); err != nil {
					w.fail(fmt.Errorf("watching pods again from %s: %w", rv, err))
					return
				}
				continue
			}
			at := time.Now()
			if ev.Type == watch.Error {
				w.fail(fmt.Errorf("pod watch: %v", ev.Object))
				return
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				w.observe(p.UID, at)
			}
		}
	}()
	return w, nil
}

func (w *deletionWatch) observe(uid types.UID, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.want[uid] {
		return
	}
	if _, ok := w.seen[uid]; ok {
		return
	}
	w.seen[uid] = at
	if at.After(w.last) {
		w.last = at
	}
	if len(w.seen) == len(w.want) {
		close(w.done)
	}
}

func (w *deletionWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// Wait waits until every pod was seen deleted or timeout passes, and
// returns when the last one deleted so far was seen and how many were. A
// broken watch is an error; a timeout is not (complete is false).
func (w *deletionWatch) Wait(timeout time.Duration) (last time.Time, deleted int, complete bool, err error) {
	if len(w.want) > 0 {
		deadline := time.After(timeout)
	wait:
		for {
			select {
			case <-w.done:
				break wait
			case <-deadline:
				break wait
			case <-time.After(time.Second):
				w.mu.Lock()
				failed := w.err != nil
				w.mu.Unlock()
				if failed {
					break wait
				}
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, len(w.seen), len(w.seen) == len(w.want), w.err
}
