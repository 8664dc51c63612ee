//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
	"github.com/faultline-dev/faultline/internal/benchtable"
)

// Sizes of BenchmarkOperatorMemoryBesideBigCluster; each can be overridden
// (FAULTLINE_BENCH_MEM_PODS, _EXPERIMENTS, _RUNS, FAULTLINE_BENCH_IDLE) when
// the machine cannot hold the full cluster in the time at hand.
var defaultMemPods = []int{2500, 10000}

const (
	defaultMemExperiments  = 1000
	defaultMemRuns         = 50
	defaultIdleWindow      = 20 * time.Second
	fillerPodsPerNamespace = 250
	fillerEnabledEveryNth  = 10 // one filler namespace in ten opts in to chaos
	fillerReadyDelay       = time.Second
	memorySettleTimeout    = 3 * time.Minute
	memoryRSSGoal          = "≤ 80 MiB"
	memoryIdleCPUGoal      = "< 1% of a core"
	activeRunHold          = time.Hour
	activeRunProbeInterval = 5 * time.Second
	victimReadyDelay       = 2 * time.Second
	victimReplicas         = int32(2)
)

// BenchmarkOperatorMemoryBesideBigCluster measures the operator's resident
// memory (VmRSS) and its CPU while left alone (utime+stime over the idle
// window) beside a growing cluster: 1,000 scheduled Experiments whose cron
// is months away, and 0, 2,500 and 10,000 extra kwok pods, most of them in
// namespaces that have not opted in. At each size the operator is restarted
// and left to sync and go quiet first, so each figure is what an operator
// holds in a cluster of that size, not what one that watched it grow kept.
//
// Then, with the largest cluster, 50 runs finish (pod kills, each with a
// full status: targets, timeline, probe statistics) and 50 stay active: an
// Istio abort on a VirtualService of their own held for an hour, with a
// workload probe sampled every 5 s. A pod kill is instant and a drain would
// move the cluster's pods, so the Istio fault is what keeps a run active
// without disturbing what is measured. Memory and CPU are read again.
func BenchmarkOperatorMemoryBesideBigCluster(b *testing.B) {
	tb.RequireOperator(b)
	podLevels := harness.EnvInts(b, "FAULTLINE_BENCH_MEM_PODS", defaultMemPods...)
	nExperiments := harness.EnvInt(b, "FAULTLINE_BENCH_MEM_EXPERIMENTS", defaultMemExperiments)
	nRuns := harness.EnvInt(b, "FAULTLINE_BENCH_MEM_RUNS", defaultMemRuns)
	window := harness.EnvDuration(b, "FAULTLINE_BENCH_IDLE", defaultIdleWindow)
	benchStart := time.Now()
	// Registered first, so it runs after every other cleanup.
	b.Cleanup(func() {
		b.Logf("benchmark and cleanup took %s", time.Since(benchStart).Round(time.Second))
	})
	tb.RelaxPolicyForBench(b, int32(nRuns+1))

	nodes := tb.NewBenchNodes(b, "bench-mem")
	expNS := tb.BenchNamespace(b, "bench-mem-experiments-", true)
	start := time.Now()
	createScheduledExperiments(b, expNS, nExperiments)
	b.Logf("created %d scheduled Experiments in %s", nExperiments, time.Since(start).Round(100*time.Millisecond))

	// The testbed's Prometheus scrapes the operator every second, thirty
	// times as often as a production scrape: idle is measured without it,
	// and once more with it below.
	tb.StopPrometheus(b)
	b.Cleanup(func() { tb.StartPrometheus(b) })
	filler := &fillerPods{nodes: nodes}
	var last harness.OperatorUsage
	for _, pods := range append([]int{0}, podLevels...) {
		start := time.Now()
		filler.grow(b, pods)
		b.Logf("cluster at %d extra pods (%d namespaces, %d opted in) after %s of setup", filler.total, len(filler.deployments), filler.enabled, time.Since(start).Round(time.Second))
		last = measureRestartedOperator(b, window)
		b.Logf("at %d extra pods and %d Experiments: RSS %s, CPU %s over %s", pods, nExperiments, last.Memory(), percentOfCore(last.CPU), last.Window.Round(100*time.Millisecond))
		benchtable.Record(b, benchtable.Row{
			Measurement: fmt.Sprintf("operator RSS at %s pods (%s scheduled Experiments)", thousands(pods), thousands(nExperiments)),
			Faultline:   last.Memory(),
			Goal:        memoryRSSGoal,
		})
	}
	b.ReportMetric(float64(last.RSS)/(1<<20), "idle-rss-MiB")
	b.ReportMetric(100*last.CPU, "idle-cpu-%")
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("idle CPU with %s pods (%s scheduled Experiments, over %s, not scraped)", thousands(filler.total), thousands(nExperiments), last.Window.Round(time.Second)),
		Faultline:   percentOfCore(last.CPU),
		Goal:        memoryIdleCPUGoal,
	})
	tb.StartPrometheus(b)
	scraped := tb.MeasureOperator(b, window)
	b.Logf("idle with the testbed's Prometheus scraping the operator every second: CPU %s, RSS %s", percentOfCore(scraped.CPU), scraped.Memory())
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("idle CPU with %s pods, scraped by Prometheus every second", thousands(filler.total)),
		Faultline:   percentOfCore(scraped.CPU),
		Goal:        "— (1 s scrapes)",
	})

	if nRuns > 0 {
		busy := measureWithRuns(b, nodes, filler.total, nRuns, window)
		b.ReportMetric(float64(busy.RSS)/(1<<20), "runs-rss-MiB")
		b.ReportMetric(100*busy.CPU, "runs-cpu-%")
		benchtable.Record(b, benchtable.Row{
			Measurement: fmt.Sprintf("operator RSS at %s pods, %d active + %d finished runs", thousands(filler.total), nRuns, nRuns),
			Faultline:   busy.Memory(),
			Goal:        memoryRSSGoal,
		})
		benchtable.Record(b, benchtable.Row{
			Measurement: fmt.Sprintf("CPU with %s pods and %d active runs (workload probe every %s, over %s)", thousands(filler.total), nRuns, activeRunProbeInterval, busy.Window.Round(time.Second)),
			Faultline:   percentOfCore(busy.CPU),
			Goal:        "— (not idle)",
		})
	}
	b.Logf("measurements done %s after the benchmark began; cleaning up", time.Since(benchStart).Round(time.Second))
}

// measureRestartedOperator restarts the operator, waits until it has
// synced and gone quiet, and measures it over window.
func measureRestartedOperator(b *testing.B, window time.Duration) harness.OperatorUsage {
	b.Helper()
	if rss, peak, err := harness.ProcMemory(tb.OperatorPID(b)); err == nil {
		b.Logf("before the restart, the operator that lived through the changes held %s (peak %s)", harness.MiB(rss), harness.MiB(peak))
	}
	tb.RestartOperator(b)
	tb.WaitOperatorQuiet(b, memorySettleTimeout)
	return tb.MeasureOperator(b, window)
}

// createScheduledExperiments creates n Experiments in namespace whose cron
// fires once a year, six months from now: present and scheduled, never due
// during the benchmark.
func createScheduledExperiments(b *testing.B, namespace string, n int) {
	b.Helper()
	month := (int(time.Now().Month())+5)%12 + 1
	objs := make([]client.Object, n)
	for i := range n {
		exp := &chaosv1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scheduled-%04d", i), Namespace: namespace},
			Spec: chaosv1alpha1.ExperimentSpec{
				Schedule: fmt.Sprintf("%d %d 1 %d *", i%60, 9+i%8, month),
				Target: chaosv1alpha1.TargetSpec{
					Kind:       chaosv1alpha1.TargetPod,
					Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{harness.BenchAppLabel: fmt.Sprintf("app-%d", i%20)}},
					Mode:       chaosv1alpha1.SelectOne,
					MaxTargets: ptr.To[int32](1),
				},
				Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
				Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
					Address: "http://" + tb.PrometheusAddr,
				}},
				SteadyState: chaosv1alpha1.SteadyStateSpec{
					Probes: []chaosv1alpha1.Probe{
						{Name: "ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: fmt.Sprintf("app-%d", i%20)}},
						{Name: "success", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: harness.SuccessRatioQuery("checkout", "1m")},
							Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"}},
					},
				},
				Objectives: &chaosv1alpha1.ObjectivesSpec{RecoverWithin: &metav1.Duration{Duration: 2 * time.Minute}},
			},
		}
		objs[i] = exp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := tb.CreateAll(ctx, objs, 8); err != nil {
		b.Fatal(err)
	}
	// Deleted with their namespace; nothing runs them before.
}

// fillerPods are Deployments of kwok pods, fillerPodsPerNamespace to a
// namespace, one namespace in fillerEnabledEveryNth opted in to chaos.
type fillerPods struct {
	nodes       *harness.BenchNodes
	deployments []*appsv1.Deployment
	total       int
	enabled     int
}

// grow adds namespaces of filler pods until there are total, and waits
// until every pod is Ready.
func (f *fillerPods) grow(b *testing.B, total int) {
	b.Helper()
	if total <= f.total {
		return
	}
	f.nodes.EnsureCapacity(b, total)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var added []*appsv1.Deployment
	for f.total < total {
		i := len(f.deployments)
		enabled := i%fillerEnabledEveryNth == 0
		ns := tb.BenchNamespace(b, "bench-mem-filler-", enabled)
		if enabled {
			f.enabled++
		}
		replicas := min(fillerPodsPerNamespace, total-f.total)
		d := harness.BenchDeployment(ns, "filler", int32(replicas), fillerReadyDelay)
		if err := tb.Client.Create(ctx, d); err != nil {
			b.Fatalf("creating Deployment %s/%s: %v", ns, d.Name, err)
		}
		f.deployments = append(f.deployments, d)
		added = append(added, d)
		f.total += replicas
	}
	// Cleanups run last-in first-out: this one, registered after each
	// namespace's own, asks for every namespace's deletion at once, and the
	// namespaces' own cleanups then wait while the namespace controller
	// empties them side by side.
	b.Cleanup(func() { f.deleteNamespaces(b) })
	took := tb.WaitDeploymentsReady(b, added)
	b.Logf("%d more pods Ready in %s", total-sumReplicas(f.deployments[:len(f.deployments)-len(added)]), took.Round(time.Second))
}

// deleteNamespaces asks for the deletion of every filler namespace, without
// waiting.
func (f *fillerPods) deleteNamespaces(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, d := range f.deployments {
		err := tb.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace}})
		if client.IgnoreNotFound(err) != nil {
			b.Errorf("deleting namespace %s: %v", d.Namespace, err)
		}
	}
}

func sumReplicas(ds []*appsv1.Deployment) int {
	n := 0
	for _, d := range ds {
		n += int(*d.Spec.Replicas)
	}
	return n
}

// measureWithRuns finishes n pod-kill runs, starts n Istio runs that stay
// active, measures the operator (not restarted) over window, then deletes
// the runs, which reverts their faults.
func measureWithRuns(b *testing.B, nodes *harness.BenchNodes, pods, n int, window time.Duration) harness.OperatorUsage {
	b.Helper()
	setup := time.Now()
	nodes.EnsureCapacity(b, pods+n*int(victimReplicas))
	ns := tb.BenchNamespace(b, "bench-mem-runs-", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var objs []client.Object
	var deployments []*appsv1.Deployment
	for i := range n {
		d := harness.BenchDeployment(ns, fmt.Sprintf("victim-%02d", i), victimReplicas, victimReadyDelay)
		deployments = append(deployments, d)
		objs = append(objs, d, benchVirtualService(ns, fmt.Sprintf("vs-%02d", i)))
	}
	if err := tb.CreateAll(ctx, objs, 8); err != nil {
		b.Fatal(err)
	}
	tb.WaitDeploymentsReady(b, deployments)

	// The finished runs: one pod killed each, a deviation and a recovery
	// measured, so each status has targets, a full timeline and probe
	// statistics.
	objs = nil
	for i := range n {
		objs = append(objs, finishedRunExperiment(ns, i))
	}
	if err := tb.CreateAll(ctx, objs, 8); err != nil {
		b.Fatal(err)
	}
	finished := startRuns(b, ctx, objs)
	waitRuns(b, finished, 10*time.Minute, "complete", chaosv1alpha1.PhaseCompleted)
	tb.WaitDeploymentsReady(b, deployments)

	objs = nil
	for i := range n {
		objs = append(objs, activeRunExperiment(ns, i))
	}
	if err := tb.CreateAll(ctx, objs, 8); err != nil {
		b.Fatal(err)
	}
	active := startRuns(b, ctx, objs)
	waitRuns(b, active, 10*time.Minute, "inject and observe", chaosv1alpha1.PhaseObserving)
	b.Logf("%d finished and %d active runs in place after %s", n, n, time.Since(setup).Round(time.Second))

	// The runs sample every activeRunProbeInterval and never go quiet;
	// give the injection's aftermath a few samples to pass.
	time.Sleep(3 * activeRunProbeInterval)
	u := tb.MeasureOperator(b, window)
	b.Logf("with %d active and %d finished runs: RSS %s, CPU %s over %s", n, n, u.Memory(), percentOfCore(u.CPU), u.Window.Round(100*time.Millisecond))

	// Still active at the end: the fault really was held throughout.
	waitRuns(b, active, time.Minute, "stay observing", chaosv1alpha1.PhaseObserving)
	deleteRuns(b, append(active, finished...))
	return u
}

// benchVirtualService is a VirtualService with one http route "primary", as
// the shop's are, for an Istio fault to act on.
func benchVirtualService(namespace, name string) *unstructured.Unstructured {
	host := name + "." + namespace + ".svc.cluster.local"
	vs := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{
			"hosts": []any{host},
			"http": []any{map[string]any{
				"name":  "primary",
				"route": []any{map[string]any{"destination": map[string]any{"host": host, "port": map[string]any{"number": int64(80)}}}},
			}},
		},
	}}
	vs.SetGroupVersionKind(harness.VirtualServiceGVK)
	return vs
}

// runProbes watch victim-NN's readiness and ask Prometheus a question that
// always holds.
func runProbes(i int) []chaosv1alpha1.Probe {
	return []chaosv1alpha1.Probe{
		{Name: "victim-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: fmt.Sprintf("victim-%02d", i), MinReadyPercent: 100}},
		{Name: "always", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "vector(1)"},
			Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "1"}},
	}
}

func benchProvider() *chaosv1alpha1.ProviderSpec {
	return &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
		Address: "http://" + tb.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
	}}
}

// finishedRunExperiment kills one pod of victim-NN and measures its
// deviation and recovery.
func finishedRunExperiment(namespace string, i int) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("finished-%02d", i), Namespace: namespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind:       chaosv1alpha1.TargetPod,
				Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{harness.BenchAppLabel: fmt.Sprintf("victim-%02d", i)}},
				Mode:       chaosv1alpha1.SelectOne,
				MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
			Provider: benchProvider(),
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: time.Second},
				Baseline:        metav1.Duration{Duration: 2 * time.Second},
				Stabilization:   2,
				RecoveryTimeout: metav1.Duration{Duration: 2 * time.Minute},
				Probes:          runProbes(i),
			},
			Objectives: &chaosv1alpha1.ObjectivesSpec{
				DetectWithin:  &metav1.Duration{Duration: 30 * time.Second},
				RecoverWithin: &metav1.Duration{Duration: time.Minute},
			},
		},
	}
}

// activeRunExperiment aborts half the requests of vs-NN's primary route for
// activeRunHold, watching victim-NN.
func activeRunExperiment(namespace string, i int) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("active-%02d", i), Namespace: namespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind: chaosv1alpha1.TargetVirtualService, Names: []string{fmt.Sprintf("vs-%02d", i)},
				Mode: chaosv1alpha1.SelectAll, MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{Routes: []string{"primary"}, Abort: &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: 50}}},
			Duration: &metav1.Duration{Duration: activeRunHold},
			Provider: benchProvider(),
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: activeRunProbeInterval},
				Baseline:        metav1.Duration{Duration: activeRunProbeInterval},
				Stabilization:   3,
				RecoveryTimeout: metav1.Duration{Duration: 5 * time.Minute},
				Probes:          runProbes(i),
			},
			Objectives: &chaosv1alpha1.ObjectivesSpec{RecoverWithin: &metav1.Duration{Duration: activeRunHold + 5*time.Minute}},
		},
	}
}

// startRuns creates one run of each Experiment.
func startRuns(b *testing.B, ctx context.Context, exps []client.Object) []*chaosv1alpha1.ExperimentRun {
	b.Helper()
	var runs []*chaosv1alpha1.ExperimentRun
	var objs []client.Object
	for _, e := range exps {
		r := &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.GetNamespace(), Name: e.GetName() + "-run"},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: e.GetName()}},
		}
		runs = append(runs, r)
		objs = append(objs, r)
	}
	if err := tb.CreateAll(ctx, objs, 8); err != nil {
		b.Fatal(err)
	}
	return runs
}

// waitRuns waits until every run is in phase. A run that ends otherwise
// (completed when it should observe, say) is an error; one that is slow to
// get there is logged and the benchmark goes on with what it has.
func waitRuns(b *testing.B, runs []*chaosv1alpha1.ExperimentRun, timeout time.Duration, what string, phase chaosv1alpha1.RunPhase) {
	b.Helper()
	start := time.Now()
	err := harness.Poll(context.Background(), timeout, func(ctx context.Context) (bool, error) {
		behind := 0
		var example string
		for _, r := range runs {
			got := &chaosv1alpha1.ExperimentRun{}
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
				return false, err
			}
			if got.Status.Phase == phase {
				continue
			}
			if got.Status.Phase == chaosv1alpha1.PhaseCompleted {
				return false, fmt.Errorf("%w: run %s completed (verdict %s) instead of reaching %s: %s", harness.ErrGiveUp, got.Name, got.Status.Verdict, phase, got.Status.Message)
			}
			behind++
			example = fmt.Sprintf("%s in phase %q: %s", got.Name, got.Status.Phase, got.Status.Message)
		}
		if behind > 0 {
			return false, fmt.Errorf("%d of %d runs not yet %s, such as %s", behind, len(runs), phase, example)
		}
		return true, nil
	})
	switch {
	case err == nil:
		b.Logf("%d runs in phase %s after %s", len(runs), phase, time.Since(start).Round(100*time.Millisecond))
	case errors.Is(err, harness.ErrGiveUp):
		b.Fatalf("waiting for %d runs to %s: %v", len(runs), what, err)
	default:
		b.Logf("waiting for %d runs to %s: %v; going on", len(runs), what, err)
	}
	if phase == chaosv1alpha1.PhaseCompleted {
		verdicts := map[chaosv1alpha1.Verdict]int{}
		for _, r := range runs {
			got := &chaosv1alpha1.ExperimentRun{}
			if err := tb.Client.Get(context.Background(), client.ObjectKeyFromObject(r), got); err == nil {
				verdicts[got.Status.Verdict]++
			}
		}
		b.Logf("verdicts of the finished runs: %v", verdicts)
	}
}

// deleteRuns deletes runs and waits until they are gone: the operator
// reverts each active fault before it lets a run go.
func deleteRuns(b *testing.B, runs []*chaosv1alpha1.ExperimentRun) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for _, r := range runs {
		if err := tb.Client.Delete(ctx, r); client.IgnoreNotFound(err) != nil {
			b.Errorf("deleting run %s: %v", r.Name, err)
		}
	}
	err := harness.Poll(ctx, 5*time.Minute, func(ctx context.Context) (bool, error) {
		left := 0
		for _, r := range runs {
			err := tb.Client.Get(ctx, client.ObjectKeyFromObject(r), &chaosv1alpha1.ExperimentRun{})
			if err == nil {
				left++
			} else if !harness.IsNotFound(err) {
				return false, err
			}
		}
		if left > 0 {
			return false, fmt.Errorf("%d runs left", left)
		}
		return true, nil
	})
	if err != nil {
		b.Errorf("deleting %d runs: %v", len(runs), err)
		return
	}
	b.Logf("%d runs deleted (faults reverted) in %s", len(runs), time.Since(start).Round(100*time.Millisecond))
}
