package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	watchtools "k8s.io/client-go/tools/watch"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// statusFormats are the -o values status accepts; "" is the default table.
var statusFormats = []string{"", "wide", "json", "yaml", "name"}

func (a *app) statusCommand() *cobra.Command {
	var watchRun bool
	var output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status RUN [--watch] [-o wide|json|yaml|name]",
		Short: "Print a run's phase, verdict and figures; with --watch, follow it to its verdict",
		Long: `Print a run's phase, verdict and measured figures, as kubectl get prints a row.

With --watch, print a line each time the phase, verdict, message or a figure
changes, until the run has its verdict, then exit with a code that says the
verdict (the codes of kubectl faultline wait). -o wide adds the Experiment,
what detected the fault, the abort reason and the operator's message; -o json
and -o yaml print the run itself (once per change with --watch); -o name prints
experimentrun.chaos.faultline.dev/NAME. Without --watch the exit code is 0.`,
		Example: `  kubectl faultline status checkout-pod-kill-28xk2 -n shop
  kubectl faultline status checkout-pod-kill-28xk2 -n shop --watch -o wide`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Parsed before connecting, so a typo is reported as one.
			printer, err := runPrinter(output, a.now)
			if err != nil {
				return &exitStatus{code: exitUnusable, err: err}
			}
			return a.status(cmd.Context(), args[0], printer, watchRun, timeout)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&watchRun, "watch", "w", false, "Print a line per change until the verdict, then exit with the verdict's code.")
	fs.StringVarP(&output, "output", "o", "", "Output format: wide, json, yaml or name. The default is a table.")
	fs.DurationVar(&timeout, "timeout", 0, "With --watch, how long to wait for the verdict before exiting with code 5 (the run continues); 0 waits forever.")
	return cmd
}

// runPrinter is the cli-runtime printer for -o output.
func runPrinter(output string, now func() time.Time) (printers.ResourcePrinter, error) {
	scheme := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	// The encoding printers refuse an object without apiVersion and kind,
	// which typed objects read through the client do not carry.
	typed := printers.NewTypeSetter(scheme)
	switch output {
	case "", "wide":
		return &runTablePrinter{table: printers.NewTablePrinter(printers.PrintOptions{Wide: output == "wide"}), now: now}, nil
	case "json":
		return typed.ToPrinter(&printers.JSONPrinter{}), nil
	case "yaml":
		return typed.ToPrinter(&printers.YAMLPrinter{}), nil
	case "name":
		return typed.ToPrinter(&printers.NamePrinter{}), nil
	}
	return nil, fmt.Errorf("unknown output format %q; use one of: %s", output, strings.Join(statusFormats[1:], ", "))
}

func (a *app) status(ctx context.Context, name string, printer printers.ResourcePrinter, watchRun bool, timeout time.Duration) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	w := &waiter{app: a, key: types.NamespacedName{Namespace: namespace, Name: name}}
	interruptible, cancel := a.untilInterrupted(ctx)
	defer cancel()
	waitCtx, cancelWait := watchtools.ContextWithOptionalTimeout(interruptible, timeout)
	defer cancelWait()

	var shown string
	var printErr error
	err = a.followRun(waitCtx, c, w.key, func(run *chaosv1alpha1.ExperimentRun) bool {
		// The watch may deliver an older state than was already shown.
		if w.last != nil && olderThan(run.ResourceVersion, w.last.ResourceVersion) {
			return false
		}
		w.last = run
		// Status is patched on every probe sample; only what a reader of
		// the line would see change is worth a line.
		if state := strings.Join(statusCells(run, a.now())[:len(statusColumns)-1], "\x00"); state != shown {
			shown = state
			if printErr = printer.PrintObj(run.DeepCopy(), a.stdout); printErr != nil {
				return true
			}
		}
		return !watchRun || w.done()
	})
	if printErr != nil {
		return &exitStatus{code: exitUnusable, err: fmt.Errorf("printing the run: %w", printErr)}
	}
	if err := stoppedFollowing(interruptible, waitCtx, err, w, timeout); err != nil {
		return err
	}
	if !watchRun {
		return nil
	}
	return &exitStatus{code: verdictExitCode(w.last.Status.Verdict)}
}

// statusColumns are the table's columns; those of priority 1 show with -o
// wide only. AGE is last: it changes with the clock, not with the run.
var statusColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name"},
	{Name: "Phase", Type: "string"},
	{Name: "Verdict", Type: "string"},
	{Name: "Detect", Type: "string", Description: "Time to detect the fault, at the precision measured."},
	{Name: "Notify", Type: "string", Description: "Time until someone was notified."},
	{Name: "Recover", Type: "string", Description: "Time to recover from the fault."},
	{Name: "Experiment", Type: "string", Priority: 1},
	{Name: "By", Type: "string", Priority: 1, Description: "What detected the fault."},
	{Name: "Abort", Type: "string", Priority: 1, Description: "Why the run was aborted."},
	{Name: "Message", Type: "string", Priority: 1},
	{Name: "Age", Type: "string"},
}

// statusCells are the run's cells in the order of statusColumns.
func statusCells(run *chaosv1alpha1.ExperimentRun, now time.Time) []string {
	st := run.Status
	var detect, notify, recovered, by, abort string
	if res := st.Result; res != nil {
		detect, notify, recovered, by = durationCell(res.TimeToDetect), durationCell(res.TimeToNotify), durationCell(res.TimeToRecover), string(res.DetectedBy)
	}
	if st.Abort != nil {
		abort = string(st.Abort.Reason)
	}
	// A tab or newline in the message would break the columns.
	message := strings.Join(strings.Fields(st.Message), " ")
	return []string{run.Name, cell(string(st.Phase)), cell(string(st.Verdict)), cell(detect), cell(notify), cell(recovered),
		run.Spec.ExperimentRef.Name, cell(by), cell(abort), cell(message), age(run.CreationTimestamp, now)}
}

// runTablePrinter prints a run as one row of a metav1.Table through the
// cli-runtime table printer, which prints the header only before the first
// row, as kubectl get --watch does.
type runTablePrinter struct {
	table printers.ResourcePrinter
	now   func() time.Time
}

// PrintObj prints obj, an ExperimentRun, as a row.
func (p *runTablePrinter) PrintObj(obj runtime.Object, w io.Writer) error {
	run, ok := obj.(*chaosv1alpha1.ExperimentRun)
	if !ok {
		return fmt.Errorf("cannot print a %T as a run", obj)
	}
	cells := statusCells(run, p.now())
	row := metav1.TableRow{Cells: make([]any, len(cells)), Object: runtime.RawExtension{Object: run}}
	for i, c := range cells {
		row.Cells[i] = c
	}
	return p.table.PrintObj(&metav1.Table{ColumnDefinitions: statusColumns, Rows: []metav1.TableRow{row}}, w)
}
