package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/report"
)

// runOptions are the flags of `run`.
type runOptions struct {
	experiment       string
	wait             bool
	timeout          time.Duration
	dryRun           bool
	junitFile        string
	abortOnInterrupt bool
	format           report.Format
}

func (a *app) runCommand() *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run EXPERIMENT",
		Short: "Start a run of an Experiment, and optionally wait for its verdict",
		Long: `Start a run of an Experiment: create an ExperimentRun for it and print the run's name.

With --wait, follow the run, printing each phase as it is reached (to stderr),
then print its report (to stdout, in the -o format; --junit-file writes JUnit
as well) and exit with a code that says the verdict, for a CD pipeline to gate on.

Interrupting the wait (Ctrl-C, or SIGTERM from a cancelled CI job) stops
waiting but does NOT abort the run: the operator carries on, reverts the fault
as usual and records the verdict. Pass --abort-on-interrupt to abort the run
instead (it annotates the run chaos.faultline.dev/abort=Manual and waits for the
revert; interrupt again to stop waiting).

` + exitCodesHelp,
		Example: `  # Start a run and print its name.
  kubectl faultline run checkout-pod-kill -n shop

  # In a pipeline: wait up to 15 minutes, gate on the exit code, keep a JUnit report.
  kubectl faultline run checkout-pod-kill -n shop --wait --timeout 15m --junit-file faultline.xml

  # Before a deploy: check the targets resolve and the steady state holds,
  # injecting nothing; exits 0 when they do.
  kubectl faultline run checkout-pod-kill -n shop --dry-run --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.experiment = args[0]
			return a.run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.wait, "wait", false, "Wait for the verdict, print the report and exit with the verdict's code.")
	fs.DurationVar(&opts.timeout, "timeout", 10*time.Minute, "With --wait, how long to wait for the verdict before exiting with code 5 (the run continues); 0 waits forever.")
	fs.BoolVar(&opts.dryRun, "dry-run", false, "Create a dry run (spec.dryRun): the operator resolves targets and runs the probes but injects nothing; with --wait it exits 0 when the baseline held and targets resolved. Unlike kubectl's --dry-run, the run is created.")
	fs.StringVar(&opts.junitFile, "junit-file", "", "With --wait, also write the report as JUnit XML to this file.")
	fs.BoolVar(&opts.abortOnInterrupt, "abort-on-interrupt", false, "With --wait, abort the run on Ctrl-C or SIGTERM instead of leaving it running.")
	parseFormat := formatFlag(fs)
	cmd.PreRunE = func(*cobra.Command, []string) error {
		f, err := parseFormat()
		opts.format = f
		return err
	}
	return cmd
}

// newExperimentRun builds the run `kubectl faultline run` creates: named after
// its Experiment with a random suffix, and labelled like the runs the
// operator's scheduler creates, so `kubectl get runs -l` and the Experiment's
// history treat both alike.
func newExperimentRun(namespace, experiment string, dryRun bool) *chaosv1alpha1.ExperimentRun {
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: experiment + "-",
		},
		Spec: chaosv1alpha1.ExperimentRunSpec{
			ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment},
			DryRun:        dryRun,
		},
	}
	// An Experiment name may be longer than a label value may be; the run is
	// still valid without the label, and the report finds runs by
	// spec.experimentRef.name anyway.
	if len(validation.IsValidLabelValue(experiment)) == 0 {
		run.Labels = map[string]string{chaosv1alpha1.ExperimentLabel: experiment}
	}
	return run
}

func (a *app) run(ctx context.Context, opts runOptions) error {
	c, namespace, err := a.connect()
	if err != nil {
		return err
	}
	createCtx, cancel := a.untilInterrupted(ctx)
	defer cancel()

	// Refuse early and clearly: the operator would otherwise end the run in
	// Error, after the pipeline had already waited for it. Only NotFound is
	// conclusive; a user allowed to create runs but not to read Experiments
	// gets the operator's verdict instead.
	var exp chaosv1alpha1.Experiment
	if err := c.Get(createCtx, types.NamespacedName{Namespace: namespace, Name: opts.experiment}, &exp); apierrors.IsNotFound(err) {
		return fmt.Errorf("experiment %q not found in namespace %q (kubectl get experiments -n %s)", opts.experiment, namespace, namespace)
	}

	run := newExperimentRun(namespace, opts.experiment, opts.dryRun)
	if err := c.Create(createCtx, run); err != nil {
		return fmt.Errorf("creating a run of %s/%s: %w", namespace, opts.experiment, err)
	}
	cancel()
	if !opts.wait {
		_, err := fmt.Fprintln(a.stdout, run.Name)
		return err
	}

	waitFor := "its verdict"
	if opts.timeout > 0 {
		waitFor += " (up to " + opts.timeout.String() + ")"
	}
	a.say("experimentrun %s created; waiting for %s\n", runName(run), waitFor)

	w := &waiter{app: a, key: client.ObjectKeyFromObject(run)}
	// The created run is the state to report if nothing newer is read.
	w.observe(run)
	interruptible, cancelInterruptible := a.untilInterruptedOrAborted(ctx, c, w.key, opts.abortOnInterrupt)
	defer cancelInterruptible()
	waitCtx, cancelWait := watchtools.ContextWithOptionalTimeout(interruptible, opts.timeout)
	defer cancelWait()

	err = a.followRun(waitCtx, c, w.key, func(run *chaosv1alpha1.ExperimentRun) bool {
		w.observe(run)
		return w.done()
	})
	if err := stoppedFollowing(interruptible, waitCtx, err, w, opts.timeout); err != nil {
		var status *exitStatus
		if errors.As(err, &status) && status.code == exitTimedOut {
			// A pipeline keeps the report of the run so far.
			if err := a.writeReports(w.last, opts); err != nil {
				return err
			}
		}
		return err
	}
	if err := a.writeReports(w.last, opts); err != nil {
		return err
	}
	return &exitStatus{code: verdictExitCode(w.last.Status.Verdict)}
}

// untilInterruptedOrAborted is untilInterrupted for run --wait. With
// abortFirst (--abort-on-interrupt), the first interrupt asks the operator
// to abort the run, as `kubectl faultline abort` does, and the wait goes on
// until the fault is reverted; a second interrupt, or a request that
// failed, ends the context.
func (a *app) untilInterruptedOrAborted(ctx context.Context, c client.Client, key types.NamespacedName, abortFirst bool) (context.Context, context.CancelFunc) {
	if !abortFirst {
		return a.untilInterrupted(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for asked := false; ; asked = true {
			select {
			case <-a.interrupts:
			case <-ctx.Done():
				return
			}
			if asked {
				cancel()
				return
			}
			if err := requestAbort(ctx, c, key); err != nil {
				a.say("interrupted, and could not abort %s: %v\n", key, err)
				cancel()
				return
			}
			a.say("interrupted: asked the operator to abort %s (%s=%s); waiting for the fault to be reverted (interrupt again to stop waiting)\n",
				key, chaosv1alpha1.AbortAnnotation, chaosv1alpha1.AbortManual)
		}
	}()
	return ctx, cancel
}

// requestAbort annotates the run the way `kubectl faultline abort` does.
func requestAbort(ctx context.Context, c client.Client, key types.NamespacedName) error {
	var run chaosv1alpha1.ExperimentRun
	if err := c.Get(ctx, key, &run); err != nil {
		return fmt.Errorf("reading the run: %w", err)
	}
	_, err := annotateAbort(ctx, c, &run, string(chaosv1alpha1.AbortManual))
	return err
}

// writeReports prints the report in the chosen format, and writes the JUnit
// file when asked. The file is written even when stdout fails, since a
// pipeline's test reporter reads the file, not the log.
func (a *app) writeReports(run *chaosv1alpha1.ExperimentRun, opts runOptions) error {
	var errs []error
	if opts.junitFile != "" {
		var buf bytes.Buffer
		if err := report.JUnit(&buf, run); err != nil {
			errs = append(errs, fmt.Errorf("rendering JUnit: %w", err))
		} else if err := os.WriteFile(opts.junitFile, buf.Bytes(), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("writing the JUnit report: %w", err))
		}
	}
	if err := report.Render(a.stdout, opts.format, run); err != nil {
		errs = append(errs, fmt.Errorf("printing the report: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return &exitStatus{code: exitUnusable, err: err}
	}
	return nil
}

// orPending names a phase for messages; a run the operator has not seen has none.
func orPending(p chaosv1alpha1.RunPhase) string {
	if p == "" {
		return "not started"
	}
	return string(p)
}
