package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KillOperator SIGKILLs the operator, as a crash would, and waits until it is
// gone. Skips the test when the suite does not run the operator.
func (t *Testbed) KillOperator(tt testing.TB) {
	tt.Helper()
	t.RequireOperator(tt)
	if err := t.Operator.Kill(); err != nil {
		tt.Fatal(err)
	}
}

// StartOperator starts the operator, with extraArgs added to its flags, and
// waits until it is ready and the apiserver reaches its webhooks; a no-op if it runs. The suite's own operator runs
// without extra flags; a test that passes some should restart it without
// them when done. Safe in a t.Cleanup, like every helper here.
func (t *Testbed) StartOperator(tt testing.TB, extraArgs ...string) {
	tt.Helper()
	t.RequireOperator(tt)
	t.Operator.ExtraArgs = extraArgs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.Operator.Start(ctx); err != nil {
		tt.Fatal(err)
	}
	// Ready means the webhook server listens; wait until the apiserver
	// gets through too, so the test's next create is not refused.
	if err := t.Webhooks.WaitAnswering(ctx, t.Client, 30*time.Second); err != nil {
		tt.Fatalf("the apiserver does not reach the restarted operator's webhooks: %v", err)
	}
}

// RestartOperator is a crash and a restart: KillOperator then StartOperator.
func (t *Testbed) RestartOperator(tt testing.TB, extraArgs ...string) {
	tt.Helper()
	t.KillOperator(tt)
	t.StartOperator(tt, extraArgs...)
}

// RequireOperator skips the test when the suite does not run the operator
// (FAULTLINE_E2E_OPERATOR=0).
func (t *Testbed) RequireOperator(tt testing.TB) {
	tt.Helper()
	if t.Operator == nil {
		tt.Skip("the suite does not run the operator (FAULTLINE_E2E_OPERATOR=0)")
	}
}

// Operator is the faultline binary run as a local process against the
// testbed. Its output is appended to LogPath and its PID kept in PIDPath, so
// that hack/testbed-down.sh stops it even if the test binary died.
type Operator struct {
	// Bin is the operator binary.
	Bin string
	// Kubeconfig is passed as --kubeconfig.
	Kubeconfig string
	// MetricsAddr and HealthAddr are the metrics and health bind addresses.
	MetricsAddr, HealthAddr string
	// WebhookAddr is the webhook server's address, checked free at Start.
	WebhookAddr string
	// Args are added to the flags at every Start (the webhook settings).
	Args []string
	// ExtraArgs are added to the flags at the next Start.
	ExtraArgs []string
	// LogPath receives stdout and stderr.
	LogPath string
	// PIDPath holds the PID while the process runs.
	PIDPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts the operator unless it runs, and waits until its /readyz
// answers; it fails early if the process exits or a port is taken.
func (o *Operator) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.running() {
		return nil
	}
	for _, addr := range []string{o.MetricsAddr, o.HealthAddr, o.WebhookAddr} {
		if addr == "" {
			continue
		}
		if err := portFree(addr); err != nil {
			return fmt.Errorf("starting the operator: %w (is another operator running? see %s)", err, o.PIDPath)
		}
	}
	logFile, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }() // the child has its own copy
	_, _ = fmt.Fprintf(logFile, "\n=== e2e: starting the operator at %s\n", time.Now().Format(time.RFC3339Nano))

	args := append([]string{
		"--kubeconfig", o.Kubeconfig,
		"--metrics-bind-address", o.MetricsAddr,
		"--health-probe-bind-address", o.HealthAddr,
	}, append(slices.Clone(o.Args), o.ExtraArgs...)...)
	// Not exec.CommandContext: the operator outlives the ctx of the test
	// that starts it.
	cmd := exec.Command(o.Bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C reaches the test binary, whose
		// handler stops the operator in order. Pdeathsig: if the test
		// binary dies anyway (go test -timeout), so does the operator.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	// Pdeathsig fires when the starting OS thread exits; keep this
	// goroutine on its thread while forking so the runtime cannot retire
	// the thread under it mid-start.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	o.cmd, o.exited = cmd, exited
	if err := os.WriteFile(o.PIDPath, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		return err
	}

	readyz := "http://" + o.HealthAddr + "/readyz"
	err = Poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("%w: the operator exited (%s); see %s", ErrGiveUp, cmd.ProcessState, o.LogPath)
		default:
		}
		return httpOK(ctx, readyz)
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator to be ready: %w", err)
	}
	return nil
}

// Kill SIGKILLs the operator and waits until it has exited.
func (o *Operator) Kill() error {
	return o.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop asks the operator to shut down (SIGTERM), waits up to 15s, then
// kills it.
func (o *Operator) Stop() error {
	if err := o.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		return o.Kill()
	}
	return nil
}

// Running reports whether the operator process is running.
func (o *Operator) Running() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running()
}

func (o *Operator) running() bool {
	if o.cmd == nil {
		return false
	}
	select {
	case <-o.exited:
		return false
	default:
		return true
	}
}

func (o *Operator) signal(sig syscall.Signal, wait time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.running() {
		return nil
	}
	if err := o.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling the operator: %w", err)
	}
	select {
	case <-o.exited:
		_ = os.Remove(o.PIDPath)
		return nil
	case <-time.After(wait):
		return fmt.Errorf("the operator did not exit within %s of %s", wait, sig)
	}
}

func httpOK(ctx context.Context, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return true, nil
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}
