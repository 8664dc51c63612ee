package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// waitOutcome says how waiting for a verdict ended.
type waitOutcome int

const (
	// waitCompleted: the run reached phase Completed; its verdict is final.
	waitCompleted waitOutcome = iota
	// waitTimedOut: the timeout passed first; the run goes on.
	waitTimedOut
	// waitInterrupted: the user stopped waiting; the run goes on (or was
	// asked to abort, with --abort-on-interrupt, before a second interrupt).
	waitInterrupted
)

// waiter follows one run until its verdict, printing each phase as it is
// reached.
//
// It watches the run, starting from the resourceVersion it last read so no
// change between reads is missed. The watch is backed by re-reading the run
// every resync (a watch through a proxy or load balancer can go quiet without
// closing) and replaced by polling every poll when the user may not watch.
type waiter struct {
	*app
	client           client.WithWatch
	key              types.NamespacedName
	abortOnInterrupt bool

	last          *chaosv1alpha1.ExperimentRun
	shownPhase    chaosv1alpha1.RunPhase
	shownMessage  string
	shownAny      bool
	abortAsked    bool
	warnedPolling bool
	lastReadError string
}

// wait follows run, as created, until it completes, timeout passes (0:
// never), or the user interrupts. It returns the last state of the run it saw.
// An error means it could not follow the run (it was deleted).
func (w *waiter) wait(ctx context.Context, run *chaosv1alpha1.ExperimentRun, timeout time.Duration) (*chaosv1alpha1.ExperimentRun, waitOutcome, error) {
	waitCtx, cancel := context.WithCancel(ctx)
	if timeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()

	// Starting from the created object means there is always a state to
	// report and a resourceVersion to watch from, whatever fails next.
	w.key = client.ObjectKeyFromObject(run)
	w.observe(run)
	if err := w.read(waitCtx); err != nil {
		return w.last, 0, err
	}
	if w.done() {
		return w.last, waitCompleted, nil
	}

	ticker := time.NewTicker(w.resync)
	defer ticker.Stop()
	var events <-chan watch.Event
	stop := func() {}
	defer func() { stop() }()
	restartWatch := func() {
		stop()
		events, stop = w.watch(waitCtx)
		if events == nil {
			ticker.Reset(w.poll)
		} else {
			ticker.Reset(w.resync)
		}
	}
	restartWatch()

	for {
		select {
		case <-waitCtx.Done():
			if errors.Is(waitCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				return w.last, waitTimedOut, nil
			}
			return w.last, waitInterrupted, nil

		case <-w.interrupts:
			if !w.abortOnInterrupt || w.abortAsked {
				return w.last, waitInterrupted, nil
			}
			if err := w.requestAbort(waitCtx); err != nil {
				w.say("interrupted, and could not abort %s: %v\n", w.key, err)
				return w.last, waitInterrupted, nil
			}
			w.say("interrupted: asked the operator to abort %s (%s=%s); waiting for the fault to be reverted (interrupt again to stop waiting)\n",
				w.key, chaosv1alpha1.AbortAnnotation, chaosv1alpha1.AbortManual)

		case ev, open := <-events:
			if !open {
				// The apiserver ends every watch after a while; carry on
				// from what was last read.
				if err := w.read(waitCtx); err != nil {
					return w.last, 0, err
				}
				if w.done() {
					return w.last, waitCompleted, nil
				}
				restartWatch()
				continue
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				run, ok := ev.Object.(*chaosv1alpha1.ExperimentRun)
				if !ok || run.Name != w.key.Name {
					continue
				}
				w.observe(run)
				if w.done() {
					return w.last, waitCompleted, nil
				}
			case watch.Deleted:
				if run, ok := ev.Object.(*chaosv1alpha1.ExperimentRun); ok && run.Name == w.key.Name {
					return w.last, 0, w.deleted()
				}
			case watch.Error:
				// Typically 410 Gone: the resourceVersion is too old to
				// resume from. Read afresh and watch from there.
				if err := w.read(waitCtx); err != nil {
					return w.last, 0, err
				}
				if w.done() {
					return w.last, waitCompleted, nil
				}
				restartWatch()
			}

		case <-ticker.C:
			if err := w.read(waitCtx); err != nil {
				return w.last, 0, err
			}
			if w.done() {
				return w.last, waitCompleted, nil
			}
		}
	}
}

// watch starts a watch of the run from the last resourceVersion read. It
// returns a nil channel when the user may not watch (or the watch cannot be
// started), so the caller polls instead.
func (w *waiter) watch(ctx context.Context) (<-chan watch.Event, func()) {
	opts := &client.ListOptions{
		Namespace:     w.key.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", w.key.Name),
		Raw:           &metav1.ListOptions{ResourceVersion: w.last.ResourceVersion},
	}
	wi, err := w.client.Watch(ctx, &chaosv1alpha1.ExperimentRunList{}, opts)
	if err != nil {
		if !w.warnedPolling {
			w.warnedPolling = true
			w.say("cannot watch %s (%v); reading it every %s instead\n", w.key, err, w.poll)
		}
		return nil, func() {}
	}
	return wi.ResultChan(), wi.Stop
}

// read gets the run and shows what changed. A transient error is reported
// once and tolerated, since the next read may well succeed and the run goes
// on regardless; only a deleted run, or a run never read at all, ends the wait.
func (w *waiter) read(ctx context.Context) error {
	var run chaosv1alpha1.ExperimentRun
	err := w.client.Get(ctx, w.key, &run)
	switch {
	case err == nil:
		w.lastReadError = ""
		w.observe(&run)
		return nil
	case apierrors.IsNotFound(err):
		return w.deleted()
	case ctx.Err() != nil:
		// Timed out or interrupted mid-read: the loop reports which.
		return nil
	}
	if msg := err.Error(); msg != w.lastReadError {
		w.lastReadError = msg
		w.say("reading %s failed, retrying: %v\n", w.key, err)
	}
	return nil
}

func (w *waiter) deleted() error {
	return &exitStatus{code: exitUnusable, err: fmt.Errorf("the run %s was deleted before its verdict; the operator reverts its fault on deletion", w.key)}
}

// observe records run as the latest state and prints the phase and message
// when either changed: a phase can carry several messages (waiting for
// approval, then for a concurrency slot), and each tells the user something.
func (w *waiter) observe(run *chaosv1alpha1.ExperimentRun) {
	// The watch may deliver an older state than a read already showed.
	if w.last != nil && olderThan(run.ResourceVersion, w.last.ResourceVersion) {
		return
	}
	w.last = run
	st := run.Status
	if st.Phase == "" && st.Message == "" {
		return // not picked up by the operator yet: nothing to say
	}
	if w.shownAny && st.Phase == w.shownPhase && st.Message == w.shownMessage {
		return
	}
	w.shownAny, w.shownPhase, w.shownMessage = true, st.Phase, st.Message
	line := fmt.Sprintf("%s  %-11s", w.now().Format("15:04:05"), orPending(st.Phase))
	// The operator's final message usually starts with the verdict already.
	if st.Verdict != "" && !strings.HasPrefix(st.Message, string(st.Verdict)+":") {
		line += " " + string(st.Verdict) + ":"
	}
	if st.Message != "" {
		line += " " + st.Message
	}
	w.say("%s\n", line)
}

// olderThan compares resourceVersions. They are opaque in general; etcd's
// are integers, and when they are not this says "not older", so the newer
// state always wins.
func olderThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

func (w *waiter) done() bool {
	return w.last != nil && w.last.Status.Phase == chaosv1alpha1.PhaseCompleted
}

// requestAbort annotates the run the way `kubectl faultline abort` does.
func (w *waiter) requestAbort(ctx context.Context) error {
	w.abortAsked = true
	run := w.last.DeepCopy()
	_, err := annotateAbort(ctx, w.client, run, string(chaosv1alpha1.AbortManual))
	return err
}
