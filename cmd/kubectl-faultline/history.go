package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) historyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history EXPERIMENT",
		Short: "Show an Experiment's runs, newest first, and their trend",
		Long: `Show an Experiment's runs, newest first, with verdict, time to detect, time
to recover and start time, then the trend: the pass rate of completed runs
and the median time to recover of the runs that passed.

Only the runs are read, never the Experiment itself, so the history of an
Experiment that was deleted, or that a newer operator stored in a shape this
plugin cannot decode, is still shown.`,
		Example: `  kubectl faultline history checkout-pod-kill -n shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.history(ctx, args[0])
		},
	}
	return cmd
}

func (a *app) history(ctx context.Context, experiment string) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	runs, err := runsOfExperiment(ctx, c, namespace, experiment)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		a.say("no runs of experiment %s in namespace %s\n", experiment, namespace)
		return nil
	}
	return writeHistory(a.stdout, runs)
}

// runsOfExperiment returns the runs of experiment, newest first. A run is
// the Experiment's by its chaos.faultline.dev/experiment label, or, when it
// has none (the name was too long for a label, or the run was created by
// hand), by spec.experimentRef.name.
func runsOfExperiment(ctx context.Context, c client.Reader, namespace, experiment string) ([]chaosv1alpha1.ExperimentRun, error) {
	var list chaosv1alpha1.ExperimentRunList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing runs in namespace %s: %w", namespace, err)
	}
	runs := slices.DeleteFunc(list.Items, func(r chaosv1alpha1.ExperimentRun) bool {
		if label, ok := r.Labels[chaosv1alpha1.ExperimentLabel]; ok {
			return label != experiment
		}
		return r.Spec.ExperimentRef.Name != experiment
	})
	slices.SortStableFunc(runs, func(a, b chaosv1alpha1.ExperimentRun) int { return compareRunAge(b, a) })
	return runs, nil
}

// writeHistory writes one line per run, newest first, then the trend.
func writeHistory(w io.Writer, runs []chaosv1alpha1.ExperimentRun) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if _, err := fmt.Fprintln(tw, "RUN\tPHASE\tVERDICT\tDETECT\tRECOVER\tSTARTED"); err != nil {
		return err
	}
	for _, r := range runs {
		st := r.Status
		var detect, recovered string
		if res := st.Result; res != nil {
			detect, recovered = durationCell(res.TimeToDetect), durationCell(res.TimeToRecover)
		}
		started := ""
		if st.Timeline.StartedAt != nil {
			started = st.Timeline.StartedAt.UTC().Format(time.RFC3339)
		}
		row := []string{r.Name, cell(string(st.Phase)), cell(string(st.Verdict)), cell(detect), cell(recovered), cell(started)}
		if _, err := fmt.Fprintln(tw, strings.Join(row, "\t")); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", trend(runs))
	return err
}

// trend summarises runs: the pass rate of the completed ones (a run still
// going has no verdict to count) and the median time to recover of those
// that passed, the figure a team watches for regressions.
func trend(runs []chaosv1alpha1.ExperimentRun) string {
	var completed, passed int
	var recoveries []time.Duration
	for _, r := range runs {
		if r.Status.Phase != chaosv1alpha1.PhaseCompleted {
			continue
		}
		completed++
		if r.Status.Verdict != chaosv1alpha1.VerdictPassed {
			continue
		}
		passed++
		if res := r.Status.Result; res != nil && res.TimeToRecover != nil {
			recoveries = append(recoveries, res.TimeToRecover.Duration)
		}
	}
	if completed == 0 {
		return fmt.Sprintf("Trend: no completed run yet (%d in progress)", len(runs))
	}
	line := fmt.Sprintf("Trend: %d of %d completed runs passed (%d%%)", passed, completed, passed*100/completed)
	if m, ok := median(recoveries); ok {
		line += fmt.Sprintf("; median time to recover of passed runs %s", m)
	}
	return line
}

// median of ds; for an even count, the mean of the middle two.
func median(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid], true
	}
	return (s[mid-1] + s[mid]) / 2, true
}
