package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// APIServerProcess is the testbed's kube-apiserver as kwokctl started it.
type APIServerProcess struct {
	// LogPath is the API server's log, which a start appends to.
	LogPath string

	pidFile    string
	args       []string
	env        []string
	dir        string
	kubeconfig string
}

// FindAPIServer reads how the testbed's kube-apiserver was started, from
// its PID file and /proc, so that it can be started again the same way.
func (t *Testbed) FindAPIServer() (*APIServerProcess, error) {
	pidFile := filepath.Join(t.StateDir, "kwok", "clusters", EnvOr("FAULTLINE_TESTBED_NAME", "faultline"), "pids", "kube-apiserver.pid")
	pid, err := ReadPID(pidFile)
	if err != nil {
		return nil, fmt.Errorf("the testbed's kube-apiserver: %w", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, err
	}
	dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return nil, err
	}
	split := func(b []byte) []string { return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") }
	return &APIServerProcess{
		LogPath:    filepath.Join(filepath.Dir(filepath.Dir(pidFile)), "logs", "kube-apiserver.log"),
		pidFile:    pidFile,
		args:       split(cmdline),
		env:        split(environ),
		dir:        dir,
		kubeconfig: t.Kubeconfig,
	}, nil
}

// Stop SIGKILLs the API server and waits until it is gone.
func (a *APIServerProcess) Stop() error {
	pid, err := ReadPID(a.pidFile)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing kube-apiserver %d: %w", pid, err)
	}
	for range 100 {
		if !ProcessLive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver %d still runs after SIGKILL", pid)
}

// Start starts the API server again with its arguments and waits until it
// answers.
func (a *APIServerProcess) Start() error {
	logFile, err := os.OpenFile(a.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(a.args[0], a.args[1:]...)
	cmd.Env, cmd.Dir = a.env, a.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own session: it belongs to the testbed, not to the test binary,
	// and hack/testbed-down.sh stops it through the PID file.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(a.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		return APIServerAnswers(ctx, a.kubeconfig), nil
	})
}
