package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/report"
)

func (a *app) reportCommand() *cobra.Command {
	var experiment string
	var parseFormat func() (report.Format, error)
	cmd := &cobra.Command{
		Use:   "report (RUN | --experiment EXPERIMENT)",
		Short: "Print the report of a run, or of the newest run of an Experiment",
		Long: `Print the report of a run: its verdict, the measured figures against the
objectives, the timeline, the targets and the probes. A run in progress is
reported as far as it has got.

-o html writes one self-contained page (inline CSS and SVG, nothing loaded
from elsewhere) with the timeline drawn: redirect it to a file and open it in
a browser or attach it to a pipeline run.

With --experiment, report the newest run of that Experiment instead.`,
		Example: `  kubectl faultline report checkout-pod-kill-7xk2p -n shop
  kubectl faultline report --experiment checkout-pod-kill -n shop -o markdown
  kubectl faultline report checkout-pod-kill-7xk2p -n shop -o html > report.html`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseFormat()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			if (name == "") == (experiment == "") {
				return errors.New("name a run, or an Experiment with --experiment, but not both")
			}
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.report(ctx, name, experiment, format)
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "Report the newest run of this Experiment.")
	parseFormat = formatFlag(cmd.Flags())
	return cmd
}

func (a *app) report(ctx context.Context, name, experiment string, format report.Format) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	var run *chaosv1alpha1.ExperimentRun
	if name != "" {
		run = &chaosv1alpha1.ExperimentRun{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, run); err != nil {
			return fmt.Errorf("reading run %s/%s: %w", namespace, name, err)
		}
	} else {
		runs, err := runsOf(ctx, c, namespace, experiment)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return fmt.Errorf("no runs of experiment %q in namespace %q", experiment, namespace)
		}
		run = &runs[len(runs)-1]
	}
	return report.Render(a.stdout, format, run)
}

// runsOf lists the runs in namespace ("" for all), of experiment ("" for
// all), oldest first, by ExperimentRun.ExperimentName: a run someone applied
// by hand without the experiment label is found too, and one whose label
// names another Experiment is not taken for that one's.
func runsOf(ctx context.Context, c client.Reader, namespace, experiment string) ([]chaosv1alpha1.ExperimentRun, error) {
	var list chaosv1alpha1.ExperimentRunList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs := slices.DeleteFunc(list.Items, func(r chaosv1alpha1.ExperimentRun) bool {
		return experiment != "" && r.ExperimentName() != experiment
	})
	slices.SortStableFunc(runs, compareRunAge)
	return runs, nil
}

// compareRunAge orders runs oldest first. Creation timestamps have a
// resolution of one second, so runs created in the same second are ordered by
// when the operator started them, then by name, which keeps the order stable.
func compareRunAge(a, b chaosv1alpha1.ExperimentRun) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	as, bs := a.Status.Timeline.StartedAt, b.Status.Timeline.StartedAt
	switch {
	case as != nil && bs != nil:
		if c := as.Compare(bs.Time); c != 0 {
			return c
		}
	case as != nil:
		return -1 // b has not started: it is the newer
	case bs != nil:
		return 1
	}
	if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}
