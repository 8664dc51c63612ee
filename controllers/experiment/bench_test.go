package experiment_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/experiments/schedule"
	"github.com/faultline-dev/faultline/internal/benchtable"
	"github.com/faultline-dev/faultline/internal/stored"
)

// benchExperiments is how many scheduled Experiments the benchmark loads.
const benchExperiments = 1000

// BenchmarkScheduling1000Experiments runs the real manager and clock over
// 1,000 Experiments that all fall due at the same minute (the worst case: a
// thundering herd of game days at 14:00), for one firing cycle, with the
// Experiment and run controllers wired as cmd/faultline wires them, and
// reports how late their runs start and what the operator process spends
// idle and while firing.
//
// Lateness is measured from each run's scheduled-at annotation to the
// instant an informer in this process first sees the run with
// status.timeline.startedAt set, read with time.Now; the startedAt the
// operator recorded is reported too. Runs are staged (created) ahead of
// their time, so how long before it each was created is printed as well.
// The process's CPU and memory include the test's own informer and client
// (etcd and kube-apiserver are other processes).
//
// FAULTLINE_BENCH_WORKERS overrides the Experiment controller's
// MaxConcurrentReconciles, FAULTLINE_BENCH_RUN_WORKERS the run controller's.
//
//	KUBEBUILDER_ASSETS=... go test ./controllers/experiment -run '^$' -bench Scheduling -benchtime 1x
func BenchmarkScheduling1000Experiments(b *testing.B) {
	requireAPIServer(b)
	ctrl.SetLogger(logr.Discard())
	for range b.N {
		benchmarkOneCycle(b)
	}
}

func benchmarkOneCycle(b *testing.B) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-", Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}}
	if err := apiClient.Create(ctx, ns); err != nil {
		b.Fatalf("creating namespace: %v", err)
	}
	// The runs' steady-state probe reads this Deployment, ready.
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			},
		},
	}
	if err := apiClient.Create(ctx, dep); err != nil {
		b.Fatalf("creating deployment: %v", err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := apiClient.Status().Update(ctx, dep); err != nil {
		b.Fatalf("setting deployment status: %v", err)
	}

	// As main builds it: the client-side rate limiter off (ctrl.GetConfig
	// does the same), API priority and fairness does the limiting.
	cfg := rest.CopyConfig(restConfig)
	cfg.QPS, cfg.Burst = -1, 0
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns.Name: {}}, DefaultTransform: cache.TransformStripManagedFields()},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		b.Fatalf("creating manager: %v", err)
	}
	var writes, conflicts atomic.Int64
	count := func(err error) error {
		writes.Add(1)
		if apierrors.IsConflict(err) {
			conflicts.Add(1)
		}
		return err
	}
	// The Reconciler's client counts its writes, and the writes refused
	// for a stale read, to show what firing costs the API server.
	c := countingClient{Client: mgr.GetClient(), count: count}
	r := &experiment.Reconciler{Client: c, Clock: clock.RealClock{}, Recorder: mgr.GetEventRecorder("faultline-bench")}
	if w, err := strconv.Atoi(os.Getenv("FAULTLINE_BENCH_WORKERS")); err == nil {
		r.MaxConcurrentReconciles = w
	}
	if err := r.SetupWithManager(mgr); err != nil {
		b.Fatalf("setting up: %v", err)
	}
	runWorkers := experimentrun.DefaultMaxConcurrentReconciles
	if w, err := strconv.Atoi(os.Getenv("FAULTLINE_BENCH_RUN_WORKERS")); err == nil {
		runWorkers = w
	}
	setupRunController(b, mgr, runWorkers)

	// seen records when this process first observes each run.
	var mu sync.Mutex
	seen := map[string]time.Time{}
	scheduledAt := map[string]time.Time{}
	// rawSeen records the runs the raw comparison creates.
	rawSeen := map[string]time.Time{}
	// started records when this process first sees each run started, and
	// the startedAt the operator recorded.
	started, startedAt := map[string]time.Time{}, map[string]time.Time{}
	// The operator's own informer of runs, unstructured: the benchmark
	// adds none of its own.
	informer, err := mgr.GetCache().GetInformer(ctx, stored.NewRun())
	if err != nil {
		b.Fatalf("run informer: %v", err)
	}
	onStart := func(o any) {
		now := time.Now()
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return
		}
		run, err := stored.DecodeRunFields(u, "timeline")
		if err != nil || run.Status.Timeline.StartedAt == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if _, dup := started[run.Name]; !dup {
			started[run.Name], startedAt[run.Name] = now, run.Status.Timeline.StartedAt.Time
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) { onStart(o) }}); err != nil {
		b.Fatalf("run handler: %v", err)
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		now := time.Now()
		run, ok := o.(*unstructured.Unstructured)
		if !ok {
			return
		}
		at, err := time.Parse(time.RFC3339, run.GetAnnotations()[experiment.ScheduledAtAnnotation])
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(run.GetName(), rawPrefix) {
			rawSeen[run.GetName()] = now
			return
		}
		if _, dup := seen[run.GetName()]; !dup && err == nil {
			seen[run.GetName()], scheduledAt[run.GetName()] = now, at
		}
	}}); err != nil {
		b.Fatalf("run handler: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("manager: %v", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	// Every Experiment falls due at the first whole minute at least 55s
	// away: time to create and settle them all, then to measure idling
	// before the runs are staged.
	fireAt := time.Now().Add(55 * time.Second).Truncate(time.Minute).Add(time.Minute)
	cron := fmt.Sprintf("%d %d * * *", fireAt.UTC().Minute(), fireAt.UTC().Hour())
	createExperiments(ctx, b, ns.Name, cron)
	waitFor(ctx, b, 60*time.Second, "every experiment to plan its run", func() bool {
		return countExperiments(ctx, mgr, func(e *chaosv1alpha1.Experiment) bool {
			return e.Status.NextScheduleTime != nil && e.Status.NextScheduleTime.Time.Equal(fireAt)
		}) == benchExperiments
	})
	runtimeSettle := 3 * time.Second
	time.Sleep(runtimeSettle)

	// Idle: 1,000 Experiments loaded, nothing due or staged until fireAt.
	idleStart, idleCPU := time.Now(), cpuTime(b)
	idleEnd := fireAt.Add(-schedule.StageAhead - time.Second)
	if wait := time.Until(idleEnd); wait < 5*time.Second {
		b.Fatalf("only %s left to measure idling before %s: creating took too long", wait, fireAt)
	} else {
		time.Sleep(wait)
	}
	idleCPUUsed, idleWall := cpuTime(b)-idleCPU, time.Since(idleStart)
	idleRSS := rssBytes(b)

	// Firing: from just before the runs are staged until every run has
	// started and every Experiment's status records it.
	fireStart, fireCPU := time.Now(), cpuTime(b)
	writesBefore, conflictsBefore := writes.Load(), conflicts.Load()
	peakRSS := idleRSS
	waitFor(ctx, b, 3*time.Minute, "every run and status", func() bool {
		peakRSS = max(peakRSS, rssBytes(b))
		mu.Lock()
		n := len(started)
		mu.Unlock()
		return n == benchExperiments && countExperiments(ctx, mgr, func(e *chaosv1alpha1.Experiment) bool {
			return e.Status.LastScheduleTime != nil && e.Status.LastScheduleTime.Time.Equal(fireAt)
		}) == benchExperiments
	})
	fireCPUUsed, fireWall := cpuTime(b)-fireCPU, time.Since(fireStart)
	fireWrites, fireConflicts := writes.Load()-writesBefore, conflicts.Load()-conflictsBefore

	mu.Lock()
	var lateness, recorded, ahead []time.Duration
	for name, observed := range started {
		lateness = append(lateness, observed.Sub(fireAt))
		recorded = append(recorded, startedAt[name].Sub(fireAt))
	}
	for name, created := range seen {
		if scheduledAt[name].Equal(fireAt) {
			ahead = append(ahead, fireAt.Sub(created))
		}
	}
	mu.Unlock()
	slices.Sort(lateness)
	slices.Sort(recorded)
	slices.Sort(ahead)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op") // one cycle's wall time says nothing here
	b.ReportMetric(benchExperiments, "experiments")
	b.ReportMetric(ms(percentile(lateness, 0.50)), "p50-late-ms")
	b.ReportMetric(ms(percentile(lateness, 0.99)), "p99-late-ms")
	b.ReportMetric(ms(lateness[len(lateness)-1]), "max-late-ms")
	b.ReportMetric(100*idleCPUUsed.Seconds()/idleWall.Seconds(), "idle-cpu-%")
	b.ReportMetric(float64(idleRSS)/(1<<20), "idle-rss-MiB")
	b.ReportMetric(fireCPUUsed.Seconds(), "fire-cpu-s")
	b.ReportMetric(100*fireCPUUsed.Seconds()/fireWall.Seconds(), "fire-cpu-%")
	b.ReportMetric(float64(peakRSS)/(1<<20), "fire-rss-MiB")
	b.ReportMetric(float64(fireWrites)/benchExperiments, "writes/run")
	b.ReportMetric(float64(fireConflicts)/benchExperiments, "conflicts/run")
	b.Logf("%d runs due at %s: late p50 %s, p99 %s, max %s; idle %s CPU over %s, RSS %d MiB; firing %s CPU over %s, peak RSS %d MiB",
		len(lateness), fireAt.Format(time.RFC3339), percentile(lateness, 0.5), percentile(lateness, 0.99), lateness[len(lateness)-1],
		idleCPUUsed, idleWall.Round(time.Millisecond), idleRSS>>20, fireCPUUsed, fireWall.Round(time.Millisecond), peakRSS>>20)
	b.Logf("runs started (seen here): p50 %s, p99 %s late; startedAt as recorded: p50 %s, p99 %s; runs created (staged) p50 %s, min %s before their time",
		percentile(lateness, 0.5), percentile(lateness, 0.99), percentile(recorded, 0.5), percentile(recorded, 0.99), percentile(ahead, 0.5), ahead[0])
	b.Logf("breakdown: %d experiment workers, %d run workers; %.2f writes per run (%.2f refused as conflicts) by the reconciler, plus one Event each", cmp.Or(r.MaxConcurrentReconciles, experiment.DefaultMaxConcurrentReconciles), runWorkers,
		float64(fireWrites)/benchExperiments, float64(fireConflicts)/benchExperiments)

	// The floor: the same number of runs created by a bare parallel
	// client, timed from its first request to each run seen here.
	rawStart := time.Now()
	rawCreate(ctx, b, ns.Name)
	waitFor(ctx, b, 3*time.Minute, "every raw run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(rawSeen) == benchExperiments
	})
	mu.Lock()
	var raw []time.Duration
	for _, at := range rawSeen {
		raw = append(raw, at.Sub(rawStart))
	}
	mu.Unlock()
	slices.Sort(raw)
	p99, rawP99 := percentile(lateness, 0.99), percentile(raw, 0.99)
	b.ReportMetric(ms(rawP99), "raw-p99-ms")
	b.Logf("raw client-go, %d workers, creating %d runs from one instant: p50 %s, p99 %s, last %s", rawWorkers, len(raw), percentile(raw, 0.5), rawP99, raw[len(raw)-1])
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("%d schedules due at once, envtest: p99 lateness of the runs' start", benchExperiments),
		Faultline:   benchtable.Seconds(p99.Seconds()),
		Peer:        fmt.Sprintf("%s (client-go creating %d runs at once, %d workers: p99)", benchtable.Seconds(rawP99.Seconds()), benchExperiments, rawWorkers),
		Ratio:       fmt.Sprintf("%.2f× raw", p99.Seconds()/rawP99.Seconds()),
		Goal:        "p99 < 1 s",
	})
	benchtable.Record(b, benchtable.Row{
		Measurement: fmt.Sprintf("idle with %d scheduled Experiments, envtest: CPU / RSS", benchExperiments),
		Faultline:   fmt.Sprintf("%.2f%% of a core / %d MiB", 100*idleCPUUsed.Seconds()/idleWall.Seconds(), idleRSS>>20),
		Goal:        "< 1% / ≤ 80 MiB",
	})
}

// rawPrefix names the runs the raw comparison creates.
const rawPrefix = "raw-"

// rawWorkers is how many goroutines the raw comparison creates runs from.
const rawWorkers = 32

// rawCreate creates benchExperiments runs from rawWorkers goroutines with
// an unlimited client, as fast as the API server takes them.
func rawCreate(ctx context.Context, b *testing.B, ns string) {
	b.Helper()
	cfg := rest.CopyConfig(restConfig)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatalf("raw client: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, rawWorkers)
	for w := range rawWorkers {
		wg.Go(func() {
			for i := w; i < benchExperiments; i += rawWorkers {
				run := &chaosv1alpha1.ExperimentRun{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s%04d", rawPrefix, i)},
					Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "raw"}},
				}
				if err := c.Create(ctx, run); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("raw create: %v", err)
	}
}

// createExperiments creates benchExperiments Experiments on cron, from a
// few goroutines.
func createExperiments(ctx context.Context, b *testing.B, ns, cron string) {
	b.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchExperiments; i += workers {
				exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("exp-%04d", i)}, Spec: baseSpec()}
				exp.Spec.Schedule = cron
				if err := apiClient.Create(ctx, exp); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("creating experiments: %v", err)
	}
}

// countExperiments counts, in the manager's cache, the Experiments that match.
func countExperiments(ctx context.Context, mgr ctrl.Manager, match func(*chaosv1alpha1.Experiment) bool) int {
	list := &chaosv1alpha1.ExperimentList{}
	if err := mgr.GetCache().List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return -1
	}
	n := 0
	for i := range list.Items {
		if match(&list.Items[i]) {
			n++
		}
	}
	return n
}

// waitFor polls cond every 200ms until it holds, failing b after timeout.
func waitFor(ctx context.Context, b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// clockTicks is USER_HZ, the unit of /proc/self/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time of this process so far,
// from /proc/self/stat.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		b.Fatalf("reading /proc/self/stat: %v", err)
	}
	// The command name may hold spaces; the fields after it do not.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	// After the name: state is field 3, utime 14, stime 15 (man 5 proc).
	utime, err1 := strconv.ParseInt(fields[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(fields[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parsing /proc/self/stat: %v %v", err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// rssBytes returns this process's resident set size, VmRSS in /proc/self/status.
func rssBytes(b *testing.B) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("reading /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("parsing VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// countingClient passes every call to Client, counting the writes the
// Reconciler makes (create, patch, status patch).
type countingClient struct {
	client.Client
	count func(error) error
}

func (c countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	return c.count(c.Client.Create(ctx, o, opts...))
}

func (c countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	return c.count(c.Client.Patch(ctx, o, p, opts...))
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), count: c.count}
}

type countingStatus struct {
	client.SubResourceWriter
	count func(error) error
}

func (c countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	return c.count(c.SubResourceWriter.Patch(ctx, o, p, opts...))
}

// setupRunController adds the run controller with workers as
// cmd/faultline wires it (pod kills, probes from the cache).
func setupRunController(b *testing.B, mgr ctrl.Manager, workers int) {
	b.Helper()
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		b.Fatalf("direct client: %v", err)
	}
	runs := &experimentrun.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Clock:     clock.RealClock{},
		Recorder:  mgr.GetEventRecorder("faultline-bench"),
		Faults: faults.Registry{PodKill: func(spec chaosv1alpha1.PodKillFault) faults.Fault {
			return faults.NewPodKill(direct, spec)
		}},
		Samplers:                &experimentrun.Samplers{Client: mgr.GetClient()},
		Targets:                 experimentrun.NewSelector(direct, rand.New(rand.NewPCG(1, 2)), "faultline-system", nil),
		Metrics:                 experimentrun.NewMetrics(prometheus.NewRegistry()),
		MaxConcurrentReconciles: workers,
	}
	if err := runs.SetupWithManager(mgr); err != nil {
		b.Fatalf("setting up the run controller: %v", err)
	}
}
