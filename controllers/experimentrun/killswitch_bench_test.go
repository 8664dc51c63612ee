package experimentrun_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/internal/benchtable"
)

// killSwitchRuns is how many runs hold a fault when the kill switch is
// engaged.
const killSwitchRuns = 50

// BenchmarkKillSwitchAt50Runs measures how fast `paused: true` on the
// ChaosPolicy reverts every fault in flight, with the run controller wired
// as cmd/faultline wires it, its default workers, and a real API server.
//
// Fifty runs each drain a node of their own (a fault that holds: the node
// stays cordoned for the run's ten-minute duration). Once every node is
// cordoned by its run, the ChaosPolicy is paused; the figure is from that
// update to the last run's timeline.revertedAt, and to the last node seen
// uncordoned by this benchmark. The runs must all end Aborted by the kill
// switch.
//
//	KUBEBUILDER_ASSETS=... go test ./controllers/experimentrun/ -run '^$' -bench KillSwitch -benchtime 1x
func BenchmarkKillSwitchAt50Runs(b *testing.B) {
	if k8sClient == nil {
		b.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cfg, scheme := startBenchAPIServer(b)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatalf("creating client: %v", err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "killswitch-", Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatalf("creating namespace: %v", err)
	}
	createReadyDeployment(ctx, b, c, ns.Name, "web", 1)
	policy := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec: chaosv1alpha1.ChaosPolicySpec{MaxConcurrentRuns: ptr.To[int32](killSwitchRuns)}}
	if err := c.Create(ctx, policy); err != nil {
		b.Fatalf("creating ChaosPolicy: %v", err)
	}
	var nodes []string
	for i := range killSwitchRuns {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ks-node-%02d", i)}}
		if err := c.Create(ctx, node); err != nil {
			b.Fatalf("creating node: %v", err)
		}
		nodes = append(nodes, node.Name)
	}
	startBenchManager(ctx, b, cfg, scheme, drains)

	var keys []client.ObjectKey
	for i, node := range nodes {
		exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("drain-%02d", i)}, Spec: heldDrainSpec(node)}
		if err := c.Create(ctx, exp); err != nil {
			b.Fatalf("creating experiment: %v", err)
		}
		run := &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: exp.Name + "-run"},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
		}
		if err := c.Create(ctx, run); err != nil {
			b.Fatalf("creating run: %v", err)
		}
		keys = append(keys, client.ObjectKeyFromObject(run))
	}
	holding := func() int {
		n := 0
		for _, name := range nodes {
			node := &corev1.Node{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err == nil && node.Spec.Unschedulable {
				n++
			}
		}
		return n
	}
	benchWait(ctx, b, 2*time.Minute, func() string { return fmt.Sprintf("%d of %d nodes cordoned by their runs", holding(), killSwitchRuns) },
		func() bool { return holding() == killSwitchRuns })
	// Every run is past injection and holding.
	benchWait(ctx, b, time.Minute, func() string { return "runs not yet holding their fault" }, func() bool {
		for _, k := range keys {
			r := &chaosv1alpha1.ExperimentRun{}
			if err := c.Get(ctx, k, r); err != nil || r.Status.Timeline.InjectedAt == nil {
				return false
			}
		}
		return true
	})

	b.ResetTimer()
	if err := c.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
		b.Fatal(err)
	}
	policy.Spec.Paused = true
	paused := time.Now()
	if err := c.Update(ctx, policy); err != nil {
		b.Fatalf("pausing: %v", err)
	}
	var lastUncordoned time.Time
	benchWait(ctx, b, time.Minute, func() string { return fmt.Sprintf("%d nodes still cordoned", holding()) }, func() bool {
		if holding() == 0 {
			lastUncordoned = time.Now()
			return true
		}
		return false
	})
	var reverted []time.Duration
	benchWait(ctx, b, time.Minute, func() string { return "runs not yet Completed" }, func() bool {
		reverted = reverted[:0]
		for _, k := range keys {
			r := &chaosv1alpha1.ExperimentRun{}
			if err := c.Get(ctx, k, r); err != nil || r.Status.Phase != chaosv1alpha1.PhaseCompleted {
				return false
			}
			if r.Status.Timeline.RevertedAt != nil {
				reverted = append(reverted, r.Status.Timeline.RevertedAt.Sub(paused))
			}
		}
		return true
	})
	b.StopTimer()
	for _, k := range keys {
		r := &chaosv1alpha1.ExperimentRun{}
		if err := c.Get(ctx, k, r); err != nil {
			b.Fatal(err)
		}
		if r.Status.Verdict != chaosv1alpha1.VerdictAborted || r.Status.Abort == nil || r.Status.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			b.Errorf("run %s ended %s (%+v), want Aborted by the kill switch", k.Name, r.Status.Verdict, r.Status.Abort)
		}
	}
	if len(reverted) != killSwitchRuns {
		b.Fatalf("%d of %d runs recorded revertedAt", len(reverted), killSwitchRuns)
	}
	slices.Sort(reverted)
	last, seen := reverted[len(reverted)-1], lastUncordoned.Sub(paused)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(last.Seconds(), "last-revert-s")
	b.ReportMetric(reverted[len(reverted)/2].Seconds(), "median-revert-s")
	b.ReportMetric(seen.Seconds(), "last-uncordoned-seen-s")
	b.Logf("kill switch with %d runs holding node drains: last revertedAt %s after paused was set (median %s); last node seen uncordoned after %s; %d run workers",
		killSwitchRuns, last.Round(time.Millisecond), reverted[len(reverted)/2].Round(time.Millisecond), seen.Round(time.Millisecond), experimentrun.DefaultMaxConcurrentReconciles)
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("kill switch with %d runs holding faults, envtest: paused → last revert", killSwitchRuns),
		Faultline:   benchtable.Seconds(last.Seconds()),
		Goal:        "≤ 2 s",
	})
}

// heldDrainSpec drains node and holds it cordoned for ten minutes.
func heldDrainSpec(node string) chaosv1alpha1.ExperimentSpec {
	return chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode, Names: []string{node}, Mode: chaosv1alpha1.SelectOne, MaxTargets: ptr.To[int32](1)},
		Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{
			GracePeriodSeconds: ptr.To[int64](0), Timeout: &metav1.Duration{Duration: time.Minute},
		}},
		Duration: &metav1.Duration{Duration: 10 * time.Minute},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval:        metav1.Duration{Duration: time.Second},
			Baseline:        metav1.Duration{Duration: time.Second},
			Stabilization:   1,
			RecoveryTimeout: metav1.Duration{Duration: time.Minute},
			Probes: []chaosv1alpha1.Probe{{Name: "web-ready",
				Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web", MinReadyPercent: 100}}},
		},
	}
}

// drains injects node drains, evicting what the selector's policy allows.
func drains(direct client.Client, selector *experimentrun.Selector) faults.Registry {
	return faults.Registry{NodeDrain: func(spec chaosv1alpha1.NodeDrainFault) faults.Fault {
		return faults.NewNodeDrain(direct, clock.RealClock{}, spec).WithEvictionScope(selector)
	}}
}

// benchWait polls cond every 20ms until it holds, failing b after timeout
// with describe's account of what is missing.
func benchWait(ctx context.Context, b *testing.B, timeout time.Duration, describe func() string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Fatalf("timed out after %s: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
