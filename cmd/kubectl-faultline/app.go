package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/report"
)

// Exit codes. `run --wait` exits with the verdict so a pipeline can gate on
// it; the codes are part of the plugin's interface and never change meaning.
const (
	exitPassed       = 0
	exitFailed       = 1
	exitAborted      = 2
	exitInconclusive = 3
	exitError        = 4
	exitTimedOut     = 5
	// exitUnusable means the plugin could not do what was asked (bad
	// arguments, no cluster, the run deleted while waiting). It is not 1,
	// so a pipeline never mistakes a broken invocation for a failed
	// experiment.
	exitUnusable = 6
	// exitInterrupted is the shell's convention for a process stopped by
	// SIGINT (128 + 2).
	exitInterrupted = 130
)

// exitCodesHelp documents the exit codes in `run --help`.
const exitCodesHelp = `Exit codes (with --wait):
    0  Passed        every objective was met; for --dry-run, the baseline held
                     and the targets resolved (reason DryRun, nothing injected)
    1  Failed        an objective was missed, or the system did not recover
    2  Aborted       a guard fired, probes went blind, or the run was stopped
    3  Inconclusive  the hypothesis was not tested (the baseline did not hold,
                     or no target could be selected), dry runs included
    4  Error         the run could not be carried out
    5  timed out     --timeout passed before the verdict; the run goes on
    6  unusable      the plugin could not do what was asked (bad arguments,
                     no cluster, the run deleted while waiting)
  130  interrupted   Ctrl-C or SIGTERM before the verdict; the run goes on
                     unless --abort-on-interrupt`

// verdictExitCode maps a run's verdict to the exit code `run --wait` ends with.
func verdictExitCode(v chaosv1alpha1.Verdict) int {
	switch v {
	case chaosv1alpha1.VerdictPassed:
		return exitPassed
	case chaosv1alpha1.VerdictFailed:
		return exitFailed
	case chaosv1alpha1.VerdictAborted:
		return exitAborted
	case chaosv1alpha1.VerdictInconclusive:
		return exitInconclusive
	}
	// Error, and any verdict a newer operator may add: a pipeline must not
	// pass on a verdict this plugin does not understand.
	return exitError
}

// exitStatus is returned by a command that has said all it has to say and
// only needs the process to end with code.
type exitStatus struct {
	code int
	err  error // printed when not nil
}

func (e *exitStatus) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitStatus) Unwrap() error { return e.err }

// clientFactory connects to the cluster: the client and the namespace the
// user chose (or the kubeconfig's default).
type clientFactory func() (client.WithWatch, string, error)

// app holds what the commands need from the outside world, so tests can
// give them a fake client, buffers and their own interrupts.
type app struct {
	stdout, stderr io.Writer
	// connect is set from the kubeconfig flags unless a test set it.
	connect clientFactory
	// interrupts delivers SIGINT and SIGTERM. `run --wait` decides what an
	// interrupt means; every other command stops.
	interrupts <-chan os.Signal
	now        func() time.Time
	// poll is how often a followed run (run --wait, wait, status --watch)
	// is read when the user may not watch it.
	poll time.Duration
}

func newApp(stdout, stderr io.Writer, interrupts <-chan os.Signal) *app {
	return &app{
		stdout:     stdout,
		stderr:     stderr,
		interrupts: interrupts,
		now:        time.Now,
		poll:       time.Second,
	}
}

// execute runs the command line args and returns the process's exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var status *exitStatus
	if errors.As(err, &status) {
		if status.err != nil {
			a.say("error: %v\n", status.err)
		}
		return status.code
	}
	a.say("error: %v\n", err)
	return exitUnusable
}

// say writes a message for the user to stderr. A message that cannot be
// written there has nowhere else to go, so a write error is dropped.
func (a *app) say(format string, args ...any) {
	_, _ = fmt.Fprintf(a.stderr, format, args...)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-faultline",
		Short: "Run Faultline chaos experiments and read their reports",
		Long: `kubectl faultline runs Faultline chaos experiments and reads their reports.

Installed on PATH as kubectl-faultline, it is used as "kubectl faultline".`,
		// Errors and usage are printed once, by execute, with the exit code
		// that goes with them; cobra would print usage for every API error.
		SilenceErrors: true,
		SilenceUsage:  true,
		// Usage lines then read as the user types them.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl faultline"},
	}
	if a.connect == nil {
		a.connect = kubeconfigFlags(root.PersistentFlags())
	}
	root.AddCommand(a.runCommand(), a.reportCommand(), a.abortCommand(), a.approveCommand(), a.listCommand(),
		a.pauseCommand(), a.resumeCommand(), a.historyCommand(), a.versionCommand(), a.lintCommand(), a.waitCommand(), a.statusCommand())
	a.completeNames(root)
	return root
}

// kubeconfigFlags binds the flags kubectl users expect (--kubeconfig,
// --context, -n/--namespace, --server, ...) and returns the factory that
// connects with them. The loading rules honour KUBECONFIG like kubectl does.
func kubeconfigFlags(fs *pflag.FlagSet) clientFactory {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	fs.StringVar(&rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file to use.")
	overrides := &clientcmd.ConfigOverrides{}
	clientcmd.BindOverrideFlags(overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	return func() (client.WithWatch, string, error) {
		config := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
		namespace, _, err := config.Namespace()
		if err != nil {
			return nil, "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
		}
		cfg, err := config.ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
		}
		cfg.UserAgent = "kubectl-faultline"
		scheme := runtime.NewScheme()
		if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
			return nil, "", err
		}
		c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return nil, "", fmt.Errorf("connecting to %s: %w", cfg.Host, err)
		}
		return c, namespace, nil
	}
}

// formatFlag binds -o/--output and returns a function that parses it. It is
// parsed before anything is created, so a typo never leaves a run behind.
func formatFlag(fs *pflag.FlagSet) func() (report.Format, error) {
	var names []string
	for _, f := range report.Formats {
		names = append(names, string(f))
	}
	out := fs.StringP("output", "o", string(report.FormatText), "Report format: "+strings.Join(names, ", ")+".")
	return func() (report.Format, error) { return report.ParseFormat(*out) }
}

// untilInterrupted returns a context that ends at the first interrupt, for
// commands that have nothing to clean up.
func (a *app) untilInterrupted(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-a.interrupts:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// runName is namespace/name, as messages print it.
func runName(run *chaosv1alpha1.ExperimentRun) string {
	return run.Namespace + "/" + run.Name
}
