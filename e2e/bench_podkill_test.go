//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
	"github.com/faultline-dev/faultline/internal/benchtable"
)

// BenchmarkPodKillSideBySide kills every pod of a Deployment of N kwok pods
// three ways, each on a fresh Deployment in a fresh opted-in namespace, and
// times each the same way: to the last pod an independent watch, opened
// before the kill, sees deleted.
//
//   - Faultline: a run of a podKill Experiment selecting all N pods, timed
//     from its status.timeline.baselineVerifiedAt (target selection comes
//     after it, so selection is counted).
//   - raw client-go: list, then delete with 32 workers at QPS and burst 1000,
//     timed from the start of the list.
//   - kubectl delete pods -l ... --wait=false, timed from the start of the
//     process.
//
// Faultline and client-go delete with a grace period of 0; kubectl uses the
// pods' own, so its pods are seen deleted when their deletionTimestamp is set.
// FAULTLINE_BENCH_KILL_PODS overrides the sizes (default 200,1000).
func BenchmarkPodKillSideBySide(b *testing.B) {
	tb.RequireOperator(b)
	tb.RelaxPolicyForBench(b, 1)
	for _, n := range harness.EnvInts(b, "FAULTLINE_BENCH_KILL_PODS", 200, 1000) {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			benchPodKill(b, n)
		})
	}
}

// killTimeout bounds one way of killing n pods; past it the measurement is
// reported as a lower bound rather than failed.
func killTimeout(n int) time.Duration { return 2*time.Minute + time.Duration(n)*200*time.Millisecond }

// killResult is one way's figure.
type killResult struct {
	// Elapsed is from the way's start to the last pod seen deleted.
	Elapsed time.Duration
	// Deleted of Want pods were seen deleted; fewer means Elapsed timed out.
	Deleted, Want int
}

func (r killResult) seconds() string {
	if r.Deleted < r.Want {
		return fmt.Sprintf("> %.2f s (%d of %d deleted)", r.Elapsed.Seconds(), r.Deleted, r.Want)
	}
	return benchtable.Seconds(r.Elapsed.Seconds())
}

func benchPodKill(b *testing.B, n int) {
	nodes := tb.NewBenchNodes(b, fmt.Sprintf("bench-kill-%d", n))
	nodes.EnsureCapacity(b, n)

	cfg := rest.CopyConfig(tb.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}

	faultline := measureKill(b, cs, n, "faultline", killWithFaultline)
	raw := measureKill(b, cs, n, "client-go", killWithClientGo)
	kubectl := measureKill(b, cs, n, "kubectl", killWithKubectl)

	b.ReportMetric(faultline.Elapsed.Seconds(), "faultline-s")
	b.ReportMetric(raw.Elapsed.Seconds(), "client-go-s")
	b.ReportMetric(kubectl.Elapsed.Seconds(), "kubectl-s")
	b.Logf("kill %d pods: Faultline %s, client-go (32 workers) %s, kubectl %s", n, faultline.seconds(), raw.seconds(), kubectl.seconds())

	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("kill %s pods", thousands(n)),
		Faultline:   faultline.seconds(),
		Peer:        raw.seconds() + " (client-go, 32 workers)",
		Ratio:       speedRatio(raw, faultline, "raw"),
		Goal:        "≥ 0.9× raw",
	})
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("kill %s pods, beside kubectl delete --wait=false", thousands(n)),
		Faultline:   faultline.seconds(),
		Peer:        kubectl.seconds() + " (kubectl)",
		Ratio:       speedRatio(kubectl, faultline, "kubectl"),
	})
}

// speedRatio is Faultline's speed relative to peer's: peer's time over
// Faultline's.
func speedRatio(peer, faultline killResult, name string) string {
	if faultline.Elapsed <= 0 || faultline.Deleted < faultline.Want || peer.Deleted < peer.Want {
		return "—"
	}
	return fmt.Sprintf("%.2f× %s speed", peer.Elapsed.Seconds()/faultline.Elapsed.Seconds(), name)
}

// killer kills every pod of the Deployment harness.BenchDeployment(ns, app, ...)
// while a deletion watch is open, and returns when its clock started. A way
// whose clock start is known only later (Faultline's baselineVerifiedAt)
// returns a zero start and a wait function instead, which is called once
// the watch has seen every pod deleted (or timed out) and returns the
// way's result.
type killer func(b *testing.B, cs kubernetes.Interface, ns, app string, n int, w *deletionWatch) (start time.Time, wait func() killResult)

// measureKill puts n Ready pods in a fresh namespace, opens the deletion
// watch, kills them one way, and deletes the namespace (and the
// replacements) before returning, so the next way starts from the same
// cluster.
func measureKill(b *testing.B, cs kubernetes.Interface, n int, name string, kill killer) killResult {
	b.Helper()
	ns := tb.BenchNamespace(b, "bench-kill-"+name+"-", true)
	defer tb.DeleteNamespace(b, ns)
	const app = "victim"
	d := harness.BenchDeployment(ns, app, int32(n), time.Second)
	tb.Create(b, d)
	took := tb.WaitDeploymentsReady(b, []*appsv1.Deployment{d})
	b.Logf("%s: %d pods Ready in %s", name, n, took.Round(100*time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := watchDeletions(ctx, cs, ns, labels.Set{harness.BenchAppLabel: app}.String())
	if err != nil {
		b.Fatal(err)
	}
	if len(w.Pods) != n {
		b.Fatalf("%s: the watch lists %d pods, want %d", name, len(w.Pods), n)
	}
	start, wait := kill(b, cs, ns, app, n, w)
	last, deleted, complete, err := w.Wait(killTimeout(n))
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	r := killResult{Deleted: deleted, Want: n}
	if complete {
		r.Elapsed = last.Sub(start)
	} else {
		r.Elapsed = time.Since(start)
		b.Logf("%s: only %d of %d pods deleted within %s", name, deleted, n, killTimeout(n))
	}
	if wait != nil {
		if got := wait(); got.Want > 0 {
			r = got
		}
	}
	b.Logf("%s: %d of %d pods deleted in %s", name, r.Deleted, n, r.Elapsed.Round(time.Millisecond))
	return r
}

// killWithFaultline runs an Experiment that kills every pod of app; the
// clock starts at the run's baselineVerifiedAt, read once the run has it.
func killWithFaultline(b *testing.B, _ kubernetes.Interface, ns, app string, n int, w *deletionWatch) (time.Time, func() killResult) {
	exp := &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "kill-all", Namespace: ns},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind:       chaosv1alpha1.TargetPod,
				Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{harness.BenchAppLabel: app}},
				Mode:       chaosv1alpha1.SelectAll,
				MaxTargets: ptr.To(int32(n)),
			},
			Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
				Address: "http://" + tb.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
			}},
			// A hypothesis that always holds: the benchmark times the kill,
			// not the steady state.
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: time.Second},
				Baseline:        metav1.Duration{Duration: time.Second},
				Stabilization:   1,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes: []chaosv1alpha1.Probe{{
					Name:       "always",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "vector(1)"},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "1"},
				}},
			},
		},
	}
	tb.Create(b, exp)
	run := tb.StartRun(b, exp)
	return time.Time{}, func() killResult {
		got := &chaosv1alpha1.ExperimentRun{}
		var baseline time.Time
		err := harness.Poll(context.Background(), killTimeout(n), func(ctx context.Context) (bool, error) {
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
				return false, err
			}
			if got.Status.Phase == chaosv1alpha1.PhaseCompleted {
				return true, nil
			}
			return false, fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
		})
		if err != nil {
			b.Logf("faultline: run %s did not complete: %v", run.Name, err)
		}
		if t := got.Status.Timeline.BaselineVerifiedAt; t != nil {
			baseline = t.Time
		} else {
			b.Fatalf("faultline: run %s has no baselineVerifiedAt (phase %q, verdict %q): %s", run.Name, got.Status.Phase, got.Status.Verdict, got.Status.Message)
		}
		if len(got.Status.Targets) != n {
			b.Errorf("faultline: run %s selected %d targets, want all %d: %s", run.Name, len(got.Status.Targets), n, got.Status.Message)
		}
		last, deleted, complete, _ := w.Wait(0)
		r := killResult{Deleted: deleted, Want: n}
		if complete {
			r.Elapsed = last.Sub(baseline)
		} else {
			r.Elapsed = time.Since(baseline)
		}
		var selecting string
		if t := got.Status.Timeline.InjectedAt; t != nil {
			selecting = fmt.Sprintf(", injectedAt %s after it", t.Sub(baseline).Round(time.Millisecond))
		}
		b.Logf("faultline: run %s: verdict %q, %d targets, last pod seen deleted %s after baselineVerifiedAt%s",
			run.Name, got.Status.Verdict, len(got.Status.Targets), r.Elapsed.Round(time.Millisecond), selecting)
		return r
	}
}

// killWithClientGo lists the pods, then deletes each with 32 workers.
func killWithClientGo(b *testing.B, cs kubernetes.Interface, ns, app string, _ int, _ *deletionWatch) (time.Time, func() killResult) {
	ctx := context.Background()
	start := time.Now()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{harness.BenchAppLabel: app}.String()})
	if err != nil {
		b.Fatalf("client-go: listing pods: %v", err)
	}
	jobs := make(chan string)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 32 {
		wg.Go(func() {
			for name := range jobs {
				err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
				if err != nil && !apierrors.IsNotFound(err) {
					mu.Lock()
					first = errors.Join(first, fmt.Errorf("deleting pod %s: %w", name, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range pods.Items {
		jobs <- p.Name
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		b.Fatalf("client-go: %v", first)
	}
	return start, nil
}

// killWithKubectl runs kubectl delete pods -l SELECTOR --wait=false.
func killWithKubectl(b *testing.B, _ kubernetes.Interface, ns, app string, _ int, _ *deletionWatch) (time.Time, func() killResult) {
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(tb.RepoRoot, "bin", "kubectl"), "--kubeconfig", tb.Kubeconfig,
		"delete", "pods", "-l", labels.Set{harness.BenchAppLabel: app}.String(), "-n", ns, "--wait=false")
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("kubectl delete: %v\n%s", err, lastLines(out.String(), 10))
	}
	return start, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
