package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func (a *app) listCommand() *cobra.Command {
	var experiment string
	var allNamespaces bool
	var output string
	cmd := &cobra.Command{
		Use:   "list [--experiment EXPERIMENT] [-o wide|json|yaml|name]",
		Short: "List runs with their verdicts and measured times",
		Long: `List runs, oldest first, with their verdicts and measured times.

Unlike kubectl get experimentruns, DETECT and RECOVER are shown at the full
precision the operator measured, with what detected the fault and why a run
was aborted. -o wide adds the targets and the operator's message; -o json and
-o yaml print the runs as a List, as kubectl get does; -o name prints
experimentrun.chaos.faultline.dev/NAME, one a line, for scripts.`,
		Example: `  kubectl faultline list -n shop --experiment checkout-pod-kill
  kubectl faultline list -A -o name`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			// Parsed before connecting, so a typo is reported as one.
			if !slices.Contains(listFormats, output) {
				return &exitStatus{code: exitUnusable, err: fmt.Errorf("unknown output format %q; use one of: %s", output, strings.Join(listFormats[1:], ", "))}
			}
			return a.list(ctx, experiment, allNamespaces, output)
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "Only runs of this Experiment.")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "List runs in every namespace.")
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: wide, json, yaml or name. The default is a table.")
	return cmd
}

// listFormats are the -o values list accepts; "" is the default table.
var listFormats = []string{"", "wide", "json", "yaml", "name"}

func (a *app) list(ctx context.Context, experiment string, allNamespaces bool, output string) error {
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
	switch output {
	case "json", "yaml":
		// An empty List is still a document a script can parse.
		return writeRunList(a.stdout, runs, output)
	case "name":
		return writeRunNames(a.stdout, runs)
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
	return writeRunTable(a.stdout, runs, allNamespaces, output == "wide", a.now())
}

// writeRunList writes runs as a kubectl List in format json or yaml, each
// item with its apiVersion and kind so it can be applied or decoded alone.
func writeRunList(w io.Writer, runs []chaosv1alpha1.ExperimentRun, format string) error {
	items := make([]chaosv1alpha1.ExperimentRun, len(runs))
	for i := range runs {
		items[i] = *runs[i].DeepCopy()
		items[i].APIVersion = chaosv1alpha1.GroupVersion.String()
		items[i].Kind = "ExperimentRun"
	}
	list := struct {
		APIVersion string                        `json:"apiVersion"`
		Kind       string                        `json:"kind"`
		Items      []chaosv1alpha1.ExperimentRun `json:"items"`
	}{APIVersion: "v1", Kind: "List", Items: items}
	var out []byte
	var err error
	if format == "yaml" {
		out, err = yaml.Marshal(list)
	} else {
		out, err = json.MarshalIndent(list, "", "    ")
		out = append(out, '\n')
	}
	if err != nil {
		return fmt.Errorf("encoding runs as %s: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}

// writeRunNames writes resource/name lines, as kubectl get -o name does.
func writeRunNames(w io.Writer, runs []chaosv1alpha1.ExperimentRun) error {
	for _, r := range runs {
		if _, err := fmt.Fprintf(w, "experimentrun.%s/%s\n", chaosv1alpha1.GroupVersion.Group, r.Name); err != nil {
			return err
		}
	}
	return nil
}

// writeRunTable writes one line per run, in the style of kubectl get; wide
// adds the number of targets and the operator's message.
func writeRunTable(w io.Writer, runs []chaosv1alpha1.ExperimentRun, withNamespace, wide bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := []string{"NAME", "EXPERIMENT", "PHASE", "VERDICT", "DETECT", "BY", "RECOVER", "ABORT", "AGE"}
	if wide {
		header = append(header, "TARGETS", "MESSAGE")
	}
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
		if wide {
			// A tab or newline in the message would break the columns.
			message := strings.Join(strings.Fields(st.Message), " ")
			row = append(row, strconv.Itoa(len(st.Targets)), cell(message))
		}
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
