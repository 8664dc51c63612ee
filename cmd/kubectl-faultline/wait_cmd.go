package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) waitCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait RUN",
		Short: "Wait for the verdict of a run, and exit with a code that says it",
		Long: `Wait for the verdict of a run started elsewhere (by the schedule, another
pipeline step or kubectl create), printing each phase as it is reached (to
stderr), and exit with a code that says the verdict, for a CD pipeline to gate on.
A run that already has its verdict returns at once.

Interrupting the wait (Ctrl-C, or SIGTERM) stops waiting and leaves the run alone.

` + exitCodesHelp,
		Example: `  # Gate a pipeline step on the run the schedule started.
  kubectl faultline wait checkout-pod-kill-28xk2 -n shop --timeout 15m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.waitForVerdict(cmd.Context(), args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "How long to wait for the verdict before exiting with code 5 (the run continues); 0 waits forever.")
	return cmd
}

func (a *app) waitForVerdict(ctx context.Context, name string, timeout time.Duration) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	w := &waiter{app: a, key: types.NamespacedName{Namespace: namespace, Name: name}}
	interruptible, cancel := a.untilInterrupted(ctx)
	defer cancel()
	waitCtx, cancelWait := watchtools.ContextWithOptionalTimeout(interruptible, timeout)
	defer cancelWait()

	err = a.followRun(waitCtx, c, w.key, func(run *chaosv1alpha1.ExperimentRun) bool {
		w.observe(run)
		return w.done()
	})
	if err := stoppedFollowing(interruptible, waitCtx, err, w, timeout); err != nil {
		return err
	}
	return &exitStatus{code: verdictExitCode(w.last.Status.Verdict)}
}

// stoppedFollowing turns what ended followRun early into the exit status
// the user is told: interrupted (130), timed out (5), or the run missing or
// unreadable (6). It returns nil when the run has its verdict.
func stoppedFollowing(interruptible, waitCtx context.Context, err error, w *waiter, timeout time.Duration) error {
	var missing *runMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &missing):
		return &exitStatus{code: exitUnusable, err: err}
	case errors.Is(err, errRunDeleted):
		return w.deleted()
	case interruptible.Err() != nil:
		w.say("interrupted: stopped waiting. The run %s goes on; the operator reverts its fault and records its verdict as usual.\n"+
			"  follow it:  kubectl faultline wait %s -n %s\n  abort it:   kubectl faultline abort %s -n %s\n",
			w.key, w.key.Name, w.key.Namespace, w.key.Name, w.key.Namespace)
		return &exitStatus{code: exitInterrupted}
	case waitCtx.Err() != nil:
		phase := chaosv1alpha1.RunPhase("")
		if w.last != nil {
			phase = w.last.Status.Phase
		}
		w.say("timed out after %s waiting for the verdict of %s (phase %s); the run goes on\n", timeout, w.key, orPending(phase))
		return &exitStatus{code: exitTimedOut}
	}
	return &exitStatus{code: exitUnusable, err: fmt.Errorf("following %s: %w", w.key, err)}
}

// runMissingError says a run to follow does not exist, and where it was
// looked for, since the wrong namespace is the usual cause.
type runMissingError struct{ key types.NamespacedName }

func (e *runMissingError) Error() string {
	return fmt.Sprintf("run %q not found in namespace %q (kubectl faultline list -n %s lists its runs; pass -n for another namespace)",
		e.key.Name, e.key.Namespace, e.key.Namespace)
}

// errRunDeleted is returned by followRun when the run is deleted while it
// is followed.
var errRunDeleted = errors.New("the run was deleted")

// followRun calls onChange with the run key as it is now and then with each
// newer state, until onChange says it is done (nil), the run is missing or
// deleted, or ctx ends. It is the one follower of the plugin: run --wait,
// wait and status --watch all use it.
//
// It follows the run with client-go's UntilWithSync: an informer that lists
// the one run and watches it, and lists again whenever the watch drops or
// its resourceVersion expired, so a long wait survives apiserver restarts
// and proxies that close idle connections. A run already finished is read
// once and never watched. A user who may get the run but not watch it (or
// not list runs) gets the same, from a read every a.poll.
func (a *app) followRun(ctx context.Context, c client.WithWatch, key types.NamespacedName, onChange func(*chaosv1alpha1.ExperimentRun) bool) error {
	var run chaosv1alpha1.ExperimentRun
	if err := c.Get(ctx, key, &run); err != nil {
		if apierrors.IsNotFound(err) {
			return &runMissingError{key: key}
		}
		return fmt.Errorf("reading the run: %w", err)
	}
	if onChange(&run) {
		return nil
	}

	byName := fields.OneTermEqualSelector("metadata.name", key.Name)
	warned := false
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &chaosv1alpha1.ExperimentRunList{}
			err := c.List(ctx, list, &client.ListOptions{Namespace: key.Namespace, FieldSelector: byName,
				Limit: opts.Limit, Continue: opts.Continue, Raw: &opts})
			if !apierrors.IsForbidden(err) {
				return list, err
			}
			// A pipeline's identity may create and get runs without
			// listing them: the run alone is the list.
			var run chaosv1alpha1.ExperimentRun
			switch err := c.Get(ctx, key, &run); {
			case apierrors.IsNotFound(err):
				return &chaosv1alpha1.ExperimentRunList{}, nil
			case err != nil:
				return nil, err
			}
			return &chaosv1alpha1.ExperimentRunList{ListMeta: metav1.ListMeta{ResourceVersion: run.ResourceVersion},
				Items: []chaosv1alpha1.ExperimentRun{run}}, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			w, err := c.Watch(ctx, &chaosv1alpha1.ExperimentRunList{}, &client.ListOptions{Namespace: key.Namespace, FieldSelector: byName, Raw: &opts})
			mayNotWatch := apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err)
			if !mayNotWatch {
				return w, err
			}
			if !warned {
				warned = true
				a.say("cannot watch %s (%v); reading it every %s instead\n", key, err, a.poll)
			}
			return a.pollRun(ctx, c, key, opts.ResourceVersion), nil
		},
	}
	// The run was there a moment ago; if the first listing no longer has
	// it, it was deleted in between. The states themselves, the listed one
	// first, come to changed in order: the store may already hold a later
	// one, and showing only that would skip the phases in between.
	precondition := func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(key.String())
		if err == nil && !exists {
			err = errRunDeleted
		}
		return false, err
	}
	changed := func(ev watch.Event) (bool, error) {
		// The field selector keeps other runs out; checked again so a
		// server (or test double) that ignores it cannot end the wait.
		run, ok := ev.Object.(*chaosv1alpha1.ExperimentRun)
		if !ok || run.Name != key.Name {
			return false, nil
		}
		switch ev.Type {
		case watch.Deleted:
			return false, errRunDeleted
		case watch.Added, watch.Modified:
			return onChange(run), nil
		}
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, listThenWatch{}), &chaosv1alpha1.ExperimentRun{}, precondition, changed)
	return err
}

// pollRun stands in for a watch of the run the user may not watch: it reads
// the run every a.poll and sends each newer state as Modified, and Deleted
// once it is gone. A failed read is said once and retried, since the run
// goes on regardless.
func (a *app) pollRun(ctx context.Context, c client.Client, key types.NamespacedName, since string) watch.Interface {
	events := make(chan watch.Event)
	w := watch.NewProxyWatcher(events)
	go func() {
		defer close(events)
		ticker := time.NewTicker(a.poll)
		defer ticker.Stop()
		last, lastErr := since, ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.StopChan():
				return
			case <-ticker.C:
			}
			var run chaosv1alpha1.ExperimentRun
			var ev watch.Event
			switch err := c.Get(ctx, key, &run); {
			case apierrors.IsNotFound(err):
				gone := &chaosv1alpha1.ExperimentRun{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: last}}
				ev = watch.Event{Type: watch.Deleted, Object: gone}
			case err != nil:
				if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
					lastErr = msg
					a.say("reading %s failed, retrying: %v\n", key, err)
				}
				continue
			case run.ResourceVersion == last:
				continue
			default:
				last, lastErr = run.ResourceVersion, ""
				ev = watch.Event{Type: watch.Modified, Object: &run}
			}
			select {
			case events <- ev:
			case <-w.StopChan():
				return
			case <-ctx.Done():
				return
			}
			if ev.Type == watch.Deleted {
				return
			}
		}
	}()
	return w
}

// listThenWatch tells the informer to list and then watch, rather than ask
// for a watch that streams the initial list: the controller-runtime client
// (and its fake in tests) does not promise to pass that request through.
type listThenWatch struct{}

// IsWatchListSemanticsUnSupported is how client-go asks.
func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

// waiter shows the progress of a followed run on stderr, a line each time
// its phase or message changes, and remembers its latest state.
type waiter struct {
	*app
	key types.NamespacedName

	last         *chaosv1alpha1.ExperimentRun
	shownPhase   chaosv1alpha1.RunPhase
	shownMessage string
	shownAny     bool
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

// done says whether the latest state has its verdict.
func (w *waiter) done() bool {
	return w.last != nil && w.last.Status.Phase == chaosv1alpha1.PhaseCompleted
}

// olderThan compares resourceVersions. They are opaque in general; etcd's
// are integers, and when they are not this says "not older", so the newer
// state always wins.
func olderThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}
