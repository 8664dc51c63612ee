package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) listCommand() *cobra.Command {
	var experiment string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "list [--experiment EXPERIMENT]",
		Short: "List runs with their verdicts and measured times",
		Long: `List runs, oldest first, with their verdicts and measured times.

Unlike kubectl get experimentruns, DETECT and RECOVER are shown at the full
precision the operator measured, with what detected the fault and why a run
was aborted.`,
		Example: `  kubectl faultline list -n shop --experiment checkout-pod-kill`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.list(ctx, experiment, allNamespaces)
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "Only runs of this Experiment.")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "List runs in every namespace.")
	return cmd
}

func (a *app) list(ctx context.Context, experiment string, allNamespaces bool) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	if allNamespaces {
		namespace = ""
	}
	runs, err := runsOf(ctx, c, namespace, experiment)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		where := "in namespace " + namespace
		if allNamespaces {
			where = "in any namespace"
		}
		if experiment != "" {
			where = "of experiment " + experiment + " " + where
		}
		a.say("no runs %s\n", where)
		return nil
	}
	return writeRunTable(a.stdout, runs, allNamespaces, a.now())
}

// writeRunTable writes one line per run, in the style of kubectl get.
func writeRunTable(w io.Writer, runs []chaosv1alpha1.ExperimentRun, withNamespace bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := []string{"NAME", "EXPERIMENT", "PHASE", "VERDICT", "DETECT", "BY", "RECOVER", "ABORT", "AGE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if _, err := fmt.Fprintln(tw, strings.Join(header, "\t")); err != nil {
		return err
	}
	for _, r := range runs {
		st := r.Status
		var detect, by, recovered string
		if res := st.Result; res != nil {
			detect, by, recovered = durationCell(res.TimeToDetect), string(res.DetectedBy), durationCell(res.TimeToRecover)
		}
		var abort string
		if st.Abort != nil {
			abort = string(st.Abort.Reason)
		}
		row := []string{r.Name, r.Spec.ExperimentRef.Name, cell(string(st.Phase)), cell(string(st.Verdict)),
			cell(detect), cell(by), cell(recovered), cell(abort), age(r.CreationTimestamp, now)}
		if withNamespace {
			row = append([]string{r.Namespace}, row...)
		}
		if _, err := fmt.Fprintln(tw, strings.Join(row, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// durationCell is the figure as the operator measured it, unrounded.
func durationCell(d *metav1.Duration) string {
	if d == nil {
		return ""
	}
	return d.Duration.String()
}

// cell shows an absent value as kubectl does.
func cell(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func age(created metav1.Time, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created.Time))
}
