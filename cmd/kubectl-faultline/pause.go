package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// errPolicyGone ends a wait whose ChaosPolicy was deleted or resumed, since
// no confirmation can come any more.
var errPolicyGone = errors.New("no longer paused")

func (a *app) pauseCommand() *cobra.Command {
	var reason string
	wait := true
	timeout := 2 * time.Minute
	cmd := &cobra.Command{
		Use:   "pause [--reason TEXT] [--wait] [--timeout D]",
		Short: "Engage the kill switch: abort every active run and start none",
		Long: `Engage the kill switch: set spec.paused on the ChaosPolicy ` + chaosv1alpha1.DefaultPolicyName + `.

The operator aborts every active run, reverts its fault, and starts no run
until "kubectl faultline resume". With --wait (the default) the command waits
until the operator confirms that no fault is active any more
(status.killSwitch.allRevertedAt), and prints how many runs it aborted and how
long that took. Pausing a paused policy changes nothing and still waits for
the confirmation.

The cluster administrator creates the ChaosPolicy; without one the command
changes nothing and exits 6.

Exit codes:
    0  the kill switch is engaged (and, with --wait, confirmed)
    5  timed out     --timeout passed before the confirmation; the switch
                     stays engaged
    6  unusable      no ChaosPolicy, no cluster, or the policy was deleted
                     or resumed while waiting
  130  interrupted   the switch stays engaged`,
		Example: `  kubectl faultline pause --reason "checkout incident in progress"
  kubectl faultline pause --wait=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.pause(ctx, reason, wait, timeout)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "Why the kill switch is engaged, recorded on the ChaosPolicy as "+chaosv1alpha1.PauseReasonAnnotation+".")
	cmd.Flags().BoolVar(&wait, "wait", wait, "Wait until the operator confirms every fault is reverted.")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "How long to wait for the confirmation; 0 waits as long as it takes.")
	return cmd
}

func (a *app) resumeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resume",
		Short: "Release the kill switch: runs may start again",
		Long: `Release the kill switch: set spec.paused false on the ChaosPolicy ` + chaosv1alpha1.DefaultPolicyName + `.

Runs may start again as the policy allows. Runs the kill switch aborted stay
Aborted; nothing is restarted.`,
		Example: `  kubectl faultline resume`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.resume(ctx)
		},
	}
}

// getPolicy reads the ChaosPolicy. Its absence is the user's to hear about,
// not a reason to create one: the administrator owns its guardrails, and a
// policy created here would carry none of them.
func getPolicy(ctx context.Context, c client.Client) (*chaosv1alpha1.ChaosPolicy, error) {
	var p chaosv1alpha1.ChaosPolicy
	err := c.Get(ctx, types.NamespacedName{Name: chaosv1alpha1.DefaultPolicyName}, &p)
	if apierrors.IsNotFound(err) {
		return nil, &exitStatus{code: exitUnusable, err: fmt.Errorf("there is no ChaosPolicy %q; the cluster administrator manages it, and without it no run starts", chaosv1alpha1.DefaultPolicyName)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading ChaosPolicy %s: %w", chaosv1alpha1.DefaultPolicyName, err)
	}
	return &p, nil
}

func (a *app) pause(ctx context.Context, reason string, wait bool, timeout time.Duration) error {
	c, _, err := a.connect()
	if err != nil {
		return err
	}
	p, err := getPolicy(ctx, c)
	if err != nil {
		return err
	}
	if p.Spec.Paused {
		a.say("ChaosPolicy %s was already paused%s\n", p.Name, engagedSince(p))
	} else {
		// A merge patch touches only spec.paused (and the reason): it neither
		// conflicts with the operator's status writes nor overwrites an
		// administrator's concurrent edit of the other guardrails.
		patch := client.MergeFrom(p.DeepCopy())
		p.Spec.Paused = true
		if reason != "" {
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations[chaosv1alpha1.PauseReasonAnnotation] = reason
		}
		if err := c.Patch(ctx, p, patch); err != nil {
			return fmt.Errorf("pausing ChaosPolicy %s: %w", p.Name, err)
		}
		if _, err := fmt.Fprintf(a.stdout, "paused ChaosPolicy %s: the operator aborts every active run and starts none\n", p.Name); err != nil {
			return err
		}
	}
	if !wait {
		return nil
	}
	return a.awaitKillSwitch(ctx, c, p.Generation, timeout)
}

// engagedSince says when the operator saw the switch engaged, if it has.
func engagedSince(p *chaosv1alpha1.ChaosPolicy) string {
	if ks := p.Status.KillSwitch; ks != nil && ks.EngagedAt != nil {
		return " (engaged at " + ks.EngagedAt.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}

// awaitKillSwitch waits until the operator confirms, for generation or a
// later one, that the kill switch stopped every fault, and reports what it did.
func (a *app) awaitKillSwitch(ctx context.Context, c client.WithWatch, generation int64, timeout time.Duration) error {
	waitCtx, cancel := watchtools.ContextWithOptionalTimeout(ctx, timeout)
	defer cancel()
	a.say("waiting for the operator to confirm every fault is reverted...\n")

	var confirmed *chaosv1alpha1.ChaosPolicy
	// check reports whether the policy's status confirms the switch. The
	// observed generation rules out a confirmation left from before this
	// pause: the operator clears it on resume, but may not have seen one.
	check := func(p *chaosv1alpha1.ChaosPolicy) (bool, error) {
		if !p.Spec.Paused {
			return false, fmt.Errorf("ChaosPolicy %s was resumed while waiting: %w", p.Name, errPolicyGone)
		}
		ks := p.Status.KillSwitch
		if p.Status.ObservedGeneration < generation || ks == nil || ks.EngagedAt == nil || ks.AllRevertedAt == nil {
			return false, nil
		}
		confirmed = p
		return true, nil
	}
	_, err := watchtools.UntilWithSync(waitCtx, policyListWatch(c), &chaosv1alpha1.ChaosPolicy{},
		func(store cache.Store) (bool, error) {
			obj, exists, err := store.GetByKey(chaosv1alpha1.DefaultPolicyName)
			if err != nil || !exists {
				return false, err
			}
			return check(obj.(*chaosv1alpha1.ChaosPolicy))
		},
		func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*chaosv1alpha1.ChaosPolicy)
			if !ok || p.Name != chaosv1alpha1.DefaultPolicyName {
				return false, nil
			}
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("ChaosPolicy %s was deleted while waiting: %w", p.Name, errPolicyGone)
			}
			return check(p)
		})
	switch {
	case confirmed != nil:
		return a.reportKillSwitch(ctx, c, confirmed)
	case errors.Is(err, errPolicyGone):
		return &exitStatus{code: exitUnusable, err: err}
	case errors.Is(waitCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return &exitStatus{code: exitTimedOut, err: fmt.Errorf("the operator did not confirm the kill switch within %s; it stays engaged (is the operator running? kubectl get chaospolicy %s -o yaml)", timeout, chaosv1alpha1.DefaultPolicyName)}
	case ctx.Err() != nil:
		return &exitStatus{code: exitInterrupted, err: errors.New("interrupted before the operator confirmed; the kill switch stays engaged")}
	}
	return fmt.Errorf("waiting for ChaosPolicy %s: %w", chaosv1alpha1.DefaultPolicyName, err)
}

// reportKillSwitch prints the confirmation and the runs the switch aborted.
func (a *app) reportKillSwitch(ctx context.Context, c client.Client, p *chaosv1alpha1.ChaosPolicy) error {
	ks := p.Status.KillSwitch
	took := ks.AllRevertedAt.Sub(ks.EngagedAt.Time)
	if _, err := fmt.Fprintf(a.stdout, "kill switch confirmed: %d run(s) aborted; no fault active %s after it was engaged\n",
		ks.AbortedRuns, took.Round(time.Millisecond)); err != nil {
		return err
	}
	if ks.AbortedRuns == 0 {
		return nil
	}
	// Naming the runs is a courtesy: a user who may not list runs in every
	// namespace still has the confirmation, so a failure here is a note.
	var list chaosv1alpha1.ExperimentRunList
	if err := c.List(ctx, &list); err != nil {
		a.say("note: cannot list the aborted runs: %v\n", err)
		return nil
	}
	for i := range list.Items {
		r := &list.Items[i]
		if ab := r.Status.Abort; ab == nil || ab.Reason != chaosv1alpha1.AbortKillSwitch {
			continue
		}
		if decided := engine.AbortDecidedAt(&r.Status); decided != nil && !decided.Before(ks.EngagedAt) {
			if _, err := fmt.Fprintf(a.stdout, "  aborted %s\n", runName(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// watchListUnsupported is a ListerWatcher that asks reflectors for the
// classic list-then-watch. A watch-list stream depends on the apiserver's
// initial-events bookmark, which a proxy or a fake does not always send, and
// for one object it saves nothing.
type watchListUnsupported struct{ *cache.ListWatch }

func (watchListUnsupported) IsWatchListSemanticsUnSupported() bool { return true }

// policyListWatch lists and watches ChaosPolicies through c. There is one
// that matters; the caller picks it out by name.
func policyListWatch(c client.WithWatch) cache.ListerWatcher {
	return watchListUnsupported{&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			var list chaosv1alpha1.ChaosPolicyList
			err := c.List(ctx, &list, &client.ListOptions{Raw: &opts})
			return &list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &chaosv1alpha1.ChaosPolicyList{}, &client.ListOptions{Raw: &opts})
		},
	}}
}

func (a *app) resume(ctx context.Context) error {
	c, _, err := a.connect()
	if err != nil {
		return err
	}
	p, err := getPolicy(ctx, c)
	if err != nil {
		return err
	}
	if !p.Spec.Paused {
		a.say("ChaosPolicy %s is not paused; nothing to resume\n", p.Name)
		return nil
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Paused = false
	delete(p.Annotations, chaosv1alpha1.PauseReasonAnnotation)
	if err := c.Patch(ctx, p, patch); err != nil {
		return fmt.Errorf("resuming ChaosPolicy %s: %w", p.Name, err)
	}
	_, err = fmt.Fprintf(a.stdout, "resumed ChaosPolicy %s: runs may start again as the policy allows; runs the kill switch aborted stay Aborted\n", p.Name)
	return err
}
