package main

import (
	"context"
	"errors"
	"fmt"
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
	w := &waiter{app: a, client: c, key: types.NamespacedName{Namespace: namespace, Name: name}}
	interruptible, cancel := a.untilInterrupted(ctx)
	defer cancel()
	waitCtx, cancelWait := watchtools.ContextWithOptionalTimeout(interruptible, timeout)
	defer cancelWait()

	err = followRun(waitCtx, c, w.key, func(run *chaosv1alpha1.ExperimentRun) bool {
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
		w.say("interrupted: stopped waiting. The run %s goes on; the operator reverts its fault and records its verdict as usual.\n", w.key)
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
// deleted, or ctx ends.
//
// It follows the run with client-go's UntilWithSync: an informer that lists
// the one run and watches it, and lists again whenever the watch drops or
// its resourceVersion expired, so a long wait survives apiserver restarts
// and proxies that close idle connections. A run already finished is read
// once and never watched.
func followRun(ctx context.Context, c client.WithWatch, key types.NamespacedName, onChange func(*chaosv1alpha1.ExperimentRun) bool) error {
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
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &chaosv1alpha1.ExperimentRunList{}
			err := c.List(ctx, list, &client.ListOptions{Namespace: key.Namespace, FieldSelector: byName,
				Limit: opts.Limit, Continue: opts.Continue, Raw: &opts})
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &chaosv1alpha1.ExperimentRunList{}, &client.ListOptions{Namespace: key.Namespace, FieldSelector: byName, Raw: &opts})
		},
	}
	// The run was there a moment ago; if the first listing no longer has
	// it, it was deleted in between.
	precondition := func(store cache.Store) (bool, error) {
		obj, exists, err := store.GetByKey(key.String())
		if err != nil {
			return false, err
		}
		if !exists {
			return false, errRunDeleted
		}
		run, ok := obj.(*chaosv1alpha1.ExperimentRun)
		return ok && onChange(run), nil
	}
	changed := func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, errRunDeleted
		case watch.Added, watch.Modified:
			run, ok := ev.Object.(*chaosv1alpha1.ExperimentRun)
			return ok && onChange(run), nil
		}
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, listThenWatch{}), &chaosv1alpha1.ExperimentRun{}, precondition, changed)
	return err
}

// listThenWatch tells the informer to list and then watch, rather than ask
// for a watch that streams the initial list: the controller-runtime client
// (and its fake in tests) does not promise to pass that request through.
type listThenWatch struct{}

// IsWatchListSemanticsUnSupported is how client-go asks.
func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }
