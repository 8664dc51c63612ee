package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OperatorPID is the PID of the running operator.
func (t *Testbed) OperatorPID(b testing.TB) int {
	b.Helper()
	pid, err := ReadPID(t.Operator.PIDPath)
	if err != nil {
		b.Fatalf("the operator's PID: %v", err)
	}
	return pid
}

// ProcMemory returns a process's resident set and its peak, in bytes, from
// /proc/PID/status.
func ProcMemory(pid int) (rss, peak uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		var dst *uint64
		switch fields[0] {
		case "VmRSS:":
			dst = &rss
		case "VmHWM:":
			dst = &peak
		default:
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, fields[0], err)
		}
		*dst = kb * 1024
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, peak, nil
}

// procCPUTicks returns a process's user plus system time, in clock ticks,
// from /proc/PID/stat.
func procCPUTicks(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after
	// it. utime and stime are fields 14 and 15, so 12 and 13 after it.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return utime + stime, nil
}

// clockTicks is the kernel's clock ticks per second (getconf CLK_TCK).
func clockTicks(b testing.TB) float64 {
	b.Helper()
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		b.Fatalf("getconf CLK_TCK: %v", err)
	}
	hz, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || hz <= 0 {
		b.Fatalf("getconf CLK_TCK printed %q", out)
	}
	return hz
}

// OperatorUsage is what the operator used while it was left alone.
type OperatorUsage struct {
	// RSS and Peak are the resident set at the end of the window and its
	// peak over the process's life, in bytes.
	RSS, Peak uint64
	// HeapInUse is the Go heap in use (go_memstats_heap_inuse_bytes) at
	// the end of the window: what the operator holds, without the pages
	// the runtime has not yet returned to the system. Zero if unknown.
	HeapInUse uint64
	// CPU is the share of one core used over the window.
	CPU float64
	// Window is how long CPU was measured.
	Window time.Duration
}

// MeasureOperator samples the operator's CPU time over window, touching
// nothing (no metrics scrape by the benchmark), then reads its memory.
func (t *Testbed) MeasureOperator(b testing.TB, window time.Duration) OperatorUsage {
	b.Helper()
	pid, hz := t.OperatorPID(b), clockTicks(b)
	before, err := procCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	time.Sleep(window)
	after, err := procCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	rss, peak, err := ProcMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	u := OperatorUsage{RSS: rss, Peak: peak, CPU: float64(after-before) / hz / elapsed.Seconds(), Window: elapsed}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if heap, err := t.OperatorMetric(ctx, "go_memstats_heap_inuse_bytes"); err != nil {
		b.Logf("the operator's heap in use is unknown: %v", err)
	} else {
		u.HeapInUse = uint64(heap)
	}
	return u
}

// Memory formats u's resident set, with its peak and the Go heap in use.
func (u OperatorUsage) Memory() string {
	s := fmt.Sprintf("%s (peak %s", MiB(u.RSS), MiB(u.Peak))
	if u.HeapInUse > 0 {
		s += ", Go heap in use " + MiB(u.HeapInUse)
	}
	return s + ")"
}

// MiB formats bytes in MiB.
func MiB(bytes uint64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// WaitOperatorQuiet waits until the operator's work queues have been empty
// for three scrapes in a row, then a little longer for the work taken last
// to end. An operator that stays busy is logged, not failed: what it uses
// then is still the figure.
func (t *Testbed) WaitOperatorQuiet(b testing.TB, timeout time.Duration) {
	b.Helper()
	start, quiet := time.Now(), 0
	err := Poll(context.Background(), timeout, func(ctx context.Context) (bool, error) {
		depth, err := t.workQueueDepth(ctx)
		if err != nil {
			return false, err
		}
		if depth > 0 {
			quiet = 0
			return false, fmt.Errorf("%.0f items queued", depth)
		}
		quiet++
		if quiet < 3 {
			time.Sleep(time.Second)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		b.Logf("the operator did not go quiet within %s: %v; measuring anyway", timeout, err)
		return
	}
	time.Sleep(5 * time.Second)
	b.Logf("the operator went quiet %s after the wait began", time.Since(start).Round(100*time.Millisecond))
}

// workQueueDepth sums the operator's workqueue_depth gauges.
func (t *Testbed) workQueueDepth(ctx context.Context) (float64, error) {
	return t.OperatorMetric(ctx, "workqueue_depth")
}

// OperatorMetric sums the samples of one metric the operator exports.
func (t *Testbed) OperatorMetric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Operator.MetricsAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("the operator's metrics have no %s", name)
	}
	return sum, nil
}
