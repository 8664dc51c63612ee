package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// completionTimeout bounds the cluster listing behind a <TAB>: a shell
// that waits longer than a moment for a completion feels hung, and an
// unreachable cluster must cost no more than this.
const completionTimeout = 2 * time.Second

// completeNames gives every command whose argument is a RUN or an
// EXPERIMENT (by its usage line, "abort RUN", "run EXPERIMENT") shell
// completion of those names from the cluster, and so does every
// --experiment flag. A command added later completes as soon as its usage
// line names its argument so.
func (a *app) completeNames(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		fields := strings.Fields(cmd.Use)
		if len(fields) > 1 {
			switch strings.Trim(fields[1], "([])") {
			case "RUN":
				cmd.ValidArgsFunction = a.completeRuns
			case "EXPERIMENT":
				cmd.ValidArgsFunction = a.completeExperiments
			}
		}
		if cmd.Flags().Lookup("experiment") != nil {
			// The only error is an unknown flag, ruled out above.
			_ = cmd.RegisterFlagCompletionFunc("experiment", a.completeExperiments)
		}
	}
}

// completeExperiments lists the Experiments of the namespace whose names
// start with what was typed.
func (a *app) completeExperiments(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list chaosv1alpha1.ExperimentList
	if err := a.listForCompletion(cmd.Context(), &list); err != nil {
		cobra.CompDebugln("listing experiments: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, e := range list.Items {
		if !strings.HasPrefix(e.Name, toComplete) {
			continue
		}
		desc := "on demand"
		if e.Spec.Schedule != "" {
			desc = "scheduled " + e.Spec.Schedule
		}
		out = append(out, cobra.CompletionWithDesc(e.Name, desc))
	}
	slices.Sort(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeRuns lists the runs of the namespace whose names start with what
// was typed, the newest first, each described by its Experiment, phase and
// verdict. Commands that act only on a run in flight (abort, approve) are
// offered only the unfinished ones.
func (a *app) completeRuns(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list chaosv1alpha1.ExperimentRunList
	if err := a.listForCompletion(cmd.Context(), &list); err != nil {
		cobra.CompDebugln("listing runs: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	unfinishedOnly := cmd.Name() == "abort" || cmd.Name() == "approve"
	runs := slices.DeleteFunc(list.Items, func(r chaosv1alpha1.ExperimentRun) bool {
		return !strings.HasPrefix(r.Name, toComplete) ||
			unfinishedOnly && r.Status.Phase == chaosv1alpha1.PhaseCompleted
	})
	slices.SortStableFunc(runs, func(x, y chaosv1alpha1.ExperimentRun) int {
		return y.CreationTimestamp.Compare(x.CreationTimestamp.Time)
	})
	out := make([]cobra.Completion, 0, len(runs))
	for _, r := range runs {
		state := string(r.Status.Phase)
		if state == "" {
			state = "not started"
		}
		if r.Status.Verdict != "" {
			state += " " + string(r.Status.Verdict)
		}
		out = append(out, cobra.CompletionWithDesc(r.Name, r.Spec.ExperimentRef.Name+", "+state))
	}
	// The newest first: the run just started is the one most often meant.
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// listForCompletion lists the objects of the chosen namespace into list
// within completionTimeout. The client's first request discovers the API's
// resources without a deadline of its own, so the listing runs aside and
// is abandoned when the time is up; the process ends right after.
func (a *app) listForCompletion(ctx context.Context, list client.ObjectList) error {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	// The goroutine writes into its own copy; list is filled only on time.
	result := list.DeepCopyObject().(client.ObjectList)
	go func() { done <- c.List(ctx, result, client.InNamespace(namespace)) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		return copyList(result, list)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// copyList copies the items of a listing into the caller's list.
func copyList(from, to client.ObjectList) error {
	switch dst := to.(type) {
	case *chaosv1alpha1.ExperimentList:
		*dst = *from.(*chaosv1alpha1.ExperimentList)
	case *chaosv1alpha1.ExperimentRunList:
		*dst = *from.(*chaosv1alpha1.ExperimentRunList)
	default:
		return fmt.Errorf("cannot complete from a %T", to)
	}
	return nil
}
