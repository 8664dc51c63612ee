package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// exitRegression is what `history --fail-on-regression` ends with when the
// newest passed run is slower than the runs before it by more than the
// margin: not 1, so a pipeline tells a slower recovery from a failed run.
const exitRegression = 7

// regressionOptions say what counts as a regression in `history`.
type regressionOptions struct {
	baseline int
	margin   float64
	fail     bool
}

func (a *app) historyCommand() *cobra.Command {
	var opts regressionOptions
	cmd := &cobra.Command{
		Use:   "history EXPERIMENT",
		Short: "Show an Experiment's runs, newest first, their trend and any regression",
		Long: `Show an Experiment's runs, newest first, with verdict, time to detect, notify,
remediate and recover and start time, then the trend: the pass rate of
completed runs and the median of each figure over the runs that passed.

Then the newest passed run is compared with the passed runs before it (the
previous --baseline of them): a figure more than --margin percent above
their median is a regression, printed on its own line. With
--fail-on-regression the command then exits 7, so a pipeline step can gate
on it (0 otherwise; 6 when the command could not run). A figure needs at
least two earlier runs that measured it to be compared.

Only the runs are read, never the Experiment itself, so the history of an
Experiment that was deleted, or that a newer operator stored in a shape this
plugin cannot decode, is still shown.`,
		Example: `  kubectl faultline history checkout-pod-kill -n shop
  kubectl faultline history checkout-pod-kill -n shop --baseline 10 --margin 25 --fail-on-regression`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.baseline < 2 || opts.baseline > 1000 {
				return &exitStatus{code: exitUnusable, err: fmt.Errorf("--baseline=%d: compare with 2 to 1000 earlier runs, such as 5", opts.baseline)}
			}
			if opts.margin < 0 || opts.margin > 1000 || math.IsNaN(opts.margin) {
				return &exitStatus{code: exitUnusable, err: fmt.Errorf("--margin=%v: a percentage from 0 to 1000, such as 20", opts.margin)}
			}
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.history(ctx, args[0], opts)
		},
	}
	cmd.Flags().IntVar(&opts.baseline, "baseline", 5, "How many earlier passed runs the newest passed run is compared with.")
	cmd.Flags().Float64Var(&opts.margin, "margin", 20, "How many percent above the earlier runs' median a figure may be before it is a regression.")
	cmd.Flags().BoolVar(&opts.fail, "fail-on-regression", false, "Exit 7 when the newest passed run regressed.")
	return cmd
}

func (a *app) history(ctx context.Context, experiment string, opts regressionOptions) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	runs, err := runsOf(ctx, c, namespace, experiment)
	if err != nil {
		return err
	}
	// History reads newest first.
	slices.Reverse(runs)
	if len(runs) == 0 {
		a.say("no runs of experiment %s in namespace %s\n", experiment, namespace)
		return nil
	}
	if err := writeHistory(a.stdout, runs); err != nil {
		return err
	}
	regressions := regressed(runs, opts)
	for _, r := range regressions {
		if _, err := fmt.Fprintf(a.stdout, "Regression: %s\n", r); err != nil {
			return err
		}
	}
	if opts.fail && len(regressions) > 0 {
		return &exitStatus{code: exitRegression}
	}
	return nil
}

// figure is one of a run's measured times, as history shows it.
type figure struct {
	name string
	get  func(*chaosv1alpha1.RunResult) *metav1.Duration
}

var historyFigures = []figure{
	{"time to detect", func(r *chaosv1alpha1.RunResult) *metav1.Duration { return r.TimeToDetect }},
	{"time to notify", func(r *chaosv1alpha1.RunResult) *metav1.Duration { return r.TimeToNotify }},
	{"time to remediate", func(r *chaosv1alpha1.RunResult) *metav1.Duration { return r.TimeToRemediate }},
	{"time to recover", func(r *chaosv1alpha1.RunResult) *metav1.Duration { return r.TimeToRecover }},
}

// writeHistory writes one line per run, newest first, then the trend.
func writeHistory(w io.Writer, runs []chaosv1alpha1.ExperimentRun) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if _, err := fmt.Fprintln(tw, "RUN\tPHASE\tVERDICT\tDETECT\tNOTIFY\tREMEDIATE\tRECOVER\tSTARTED"); err != nil {
		return err
	}
	for _, r := range runs {
		st := r.Status
		cells := make([]string, len(historyFigures))
		for i, f := range historyFigures {
			if st.Result != nil {
				cells[i] = durationCell(f.get(st.Result))
			}
			cells[i] = cell(cells[i])
		}
		started := ""
		if st.Timeline.StartedAt != nil {
			started = st.Timeline.StartedAt.UTC().Format(time.RFC3339)
		}
		row := append([]string{r.Name, cell(string(st.Phase)), cell(string(st.Verdict))}, cells...)
		row = append(row, cell(started))
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

// passedRuns are the completed runs that passed, newest first.
func passedRuns(runs []chaosv1alpha1.ExperimentRun) []chaosv1alpha1.ExperimentRun {
	var out []chaosv1alpha1.ExperimentRun
	for _, r := range runs {
		if r.Status.Phase == chaosv1alpha1.PhaseCompleted && r.Status.Verdict == chaosv1alpha1.VerdictPassed && r.Status.Result != nil {
			out = append(out, r)
		}
	}
	return out
}

// trend summarises runs: the pass rate of the completed ones (a run still
// going has no verdict to count) and the median of each figure over those
// that passed, the figures a team watches for regressions.
func trend(runs []chaosv1alpha1.ExperimentRun) string {
	completed := 0
	for _, r := range runs {
		if r.Status.Phase == chaosv1alpha1.PhaseCompleted {
			completed++
		}
	}
	if completed == 0 {
		return fmt.Sprintf("Trend: no completed run yet (%d in progress)", len(runs))
	}
	passed := passedRuns(runs)
	line := fmt.Sprintf("Trend: %d of %d completed runs passed (%d%%)", len(passed), completed, len(passed)*100/completed)
	var medians []string
	for _, f := range historyFigures {
		var ds []time.Duration
		for _, r := range passed {
			if d := f.get(r.Status.Result); d != nil {
				ds = append(ds, d.Duration)
			}
		}
		if m, ok := median(ds); ok {
			medians = append(medians, fmt.Sprintf("%s %s", f.name, m))
		}
	}
	if len(medians) > 0 {
		line += "; median over passed runs: " + strings.Join(medians, ", ")
	}
	return line
}

// regressed compares the newest passed run with up to opts.baseline passed
// runs before it, figure by figure, and describes each figure more than
// opts.margin percent above their median. A figure needs two earlier
// measurements to be judged.
func regressed(runs []chaosv1alpha1.ExperimentRun, opts regressionOptions) []string {
	passed := passedRuns(runs)
	if len(passed) < 3 {
		return nil
	}
	newest, earlier := passed[0], passed[1:min(len(passed), opts.baseline+1)]
	var out []string
	for _, f := range historyFigures {
		latest := f.get(newest.Status.Result)
		if latest == nil {
			continue
		}
		var ds []time.Duration
		for _, r := range earlier {
			if d := f.get(r.Status.Result); d != nil {
				ds = append(ds, d.Duration)
			}
		}
		m, ok := median(ds)
		if !ok || len(ds) < 2 {
			continue
		}
		limit := time.Duration(float64(m) * (1 + opts.margin/100))
		if latest.Duration > limit {
			above := "from zero"
			if m > 0 {
				above = fmt.Sprintf("%.0f%% above", 100*(float64(latest.Duration)/float64(m)-1))
			}
			out = append(out, fmt.Sprintf("%s of %s is %s, %s the median %s of the %d passed runs before it (margin %g%%)",
				f.name, newest.Name, latest.Duration, above, m, len(ds), opts.margin))
		}
	}
	return out
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
