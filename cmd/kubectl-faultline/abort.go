package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) abortCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "abort RUN",
		Short: "Ask the operator to abort a run and revert its fault",
		Long: `Ask the operator to abort a run: annotate it ` + chaosv1alpha1.AbortAnnotation + `.

The operator reverts the fault at once and records the run as Aborted, with
the reason as the abort's message. A run not started yet ends Aborted without
touching anything. A completed run is left as it is.`,
		Example: `  kubectl faultline abort checkout-pod-kill-7xk2p -n shop --reason "checkout incident in progress"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.abort(ctx, args[0], reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "Why the run is aborted, recorded as the abort's message. Defaults to "+string(chaosv1alpha1.AbortManual)+".")
	return cmd
}

func (a *app) abort(ctx context.Context, name, reason string) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	var run chaosv1alpha1.ExperimentRun
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &run); err != nil {
		return fmt.Errorf("reading run %s/%s: %w", namespace, name, err)
	}
	if run.Status.Phase == chaosv1alpha1.PhaseCompleted {
		a.say("run %s already completed (verdict %s); nothing to abort\n", runName(&run), run.Status.Verdict)
		return nil
	}
	if reason == "" {
		reason = string(chaosv1alpha1.AbortManual)
	}
	already, err := annotateAbort(ctx, c, &run, reason)
	if err != nil {
		return err
	}
	if already != "" {
		a.say("abort of %s was already requested (%s=%s); the operator is on it\n", runName(&run), chaosv1alpha1.AbortAnnotation, already)
		return nil
	}
	_, err = fmt.Fprintf(a.stdout, "abort of %s requested; the operator reverts its fault and records it as Aborted\n", runName(&run))
	return err
}

// annotateAbort asks the operator to abort run, recording reason. When the
// run already carries the annotation it is left alone and its value returned:
// the first request wins, so a scheduler's Replaced is not relabelled Manual.
func annotateAbort(ctx context.Context, c client.Client, run *chaosv1alpha1.ExperimentRun, reason string) (already string, err error) {
	if v, ok := run.Annotations[chaosv1alpha1.AbortAnnotation]; ok {
		return v, nil
	}
	// A merge patch touches only this annotation, so it neither conflicts
	// with the operator's status writes nor needs the latest resourceVersion.
	patch := client.MergeFrom(run.DeepCopy())
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[chaosv1alpha1.AbortAnnotation] = reason
	if err := c.Patch(ctx, run, patch); err != nil {
		return "", fmt.Errorf("annotating %s to abort it: %w", runName(run), err)
	}
	return "", nil
}
