package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) approveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approve RUN",
		Short: "Approve a run that waits for approval",
		Long: `Approve a run whose Experiment sets approval.required: annotate it
` + chaosv1alpha1.ApprovedAnnotation + `=true.

Faultline's admission webhook accepts the approval only from a user other
than the run's requester who holds the approve verb on experimentruns in the
run's namespace, and records who approved it (` + chaosv1alpha1.ApprovedByAnnotation + `);
the operator copies that into status.approval and every report. A cluster
administrator grants the right with a Role rule:

  - apiGroups: [chaos.faultline.dev]
    resources: [experimentruns]
    verbs: [approve]`,
		Example: `  kubectl faultline approve checkout-pod-kill-7xk2p -n shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.approve(ctx, args[0])
		},
	}
	return cmd
}

func (a *app) approve(ctx context.Context, name string) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	var run chaosv1alpha1.ExperimentRun
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &run); err != nil {
		return fmt.Errorf("reading run %s/%s: %w", namespace, name, err)
	}
	switch {
	case run.Status.Phase == chaosv1alpha1.PhaseCompleted:
		a.say("run %s already completed (verdict %s); nothing to approve\n", runName(&run), run.Status.Verdict)
		return nil
	case run.Annotations[chaosv1alpha1.ApprovedAnnotation] == "true":
		by := approverName(run.Annotations[chaosv1alpha1.ApprovedByAnnotation])
		if by == "" {
			by = "an earlier request"
		}
		a.say("run %s is already approved (by %s)\n", runName(&run), by)
		return nil
	}
	// A merge patch touches only this annotation: it neither conflicts with
	// the operator's status writes nor needs the latest resourceVersion. The
	// webhook refuses it with a message when this user may not approve.
	patch := client.MergeFrom(run.DeepCopy())
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[chaosv1alpha1.ApprovedAnnotation] = "true"
	if err := c.Patch(ctx, &run, patch); err != nil {
		return fmt.Errorf("approving %s: %w", runName(&run), err)
	}
	msg := fmt.Sprintf("approved %s", runName(&run))
	if by := approverName(run.Annotations[chaosv1alpha1.ApprovedByAnnotation]); by != "" {
		msg += " (recorded as approved by " + by + ")"
	}
	_, err = fmt.Fprintf(a.stdout, "%s; it starts when the ChaosPolicy allows\n", msg)
	return err
}

// approverName is the user name in the approved-by annotation, which the
// admission webhook writes as the approver's JSON record (username, groups,
// ...); a bare name is shown as it is.
func approverName(annotation string) string {
	var who struct {
		Username string `json:"username"`
	}
	if err := json.Unmarshal([]byte(annotation), &who); err == nil && who.Username != "" {
		return who.Username
	}
	return annotation
}
