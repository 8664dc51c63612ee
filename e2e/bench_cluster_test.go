//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// Helpers of the testbed benchmarks (bench_*_test.go): extra kwok nodes,
// namespaces and Deployments of kwok pods, a watch that times pod
// deletions, and the operator's memory and CPU read from /proc. The
// benchmarks measure whatever operator binary TestMain built from this tree.

const (
	// benchNodeType is the "type" label of the benchmarks' kwok nodes. It is
	// not the shop's "kwok", so the shop's node affinity keeps its pods off
	// them and the e2e helpers that walk type=kwok nodes never see them.
	benchNodeType = "kwok-bench"
	// benchPodsPerNode is the pod capacity of a benchmark node, a kubelet's
	// default maxPods.
	benchPodsPerNode = 110
	// benchAppLabel labels the benchmarks' pods with their Deployment's name.
	benchAppLabel = "faultline.dev/bench-app"
)

// envInts reads a comma-separated list of counts from key, or returns def.
func envInts(b testing.TB, key string, def ...int) []int {
	b.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("%s=%q: want comma-separated counts, such as 200,1000", key, v)
		}
		out = append(out, n)
	}
	return out
}

// envInt reads a count from key, or returns def.
func envInt(b testing.TB, key string, def int) int {
	b.Helper()
	if v := os.Getenv(key); v != "" {
		return envInts(b, key)[0]
	}
	return def
}

// envDuration reads a Go duration from key, or returns def.
func envDuration(b testing.TB, key string, def time.Duration) time.Duration {
	b.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive Go duration, such as 20s", key, v)
	}
	return d
}

// thousands writes n with a comma between thousands, as the table does.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// --- kwok nodes --------------------------------------------------------------

// benchNodes is a set of kwok nodes a benchmark adds to the testbed.
type benchNodes struct {
	prefix string
	names  []string
}

// newBenchNodes returns an empty set of nodes named prefix-NNN, deleted
// when b ends. Register it before anything that puts pods on the nodes:
// cleanups run last-in first-out, so the pods' namespaces are gone first.
func newBenchNodes(b testing.TB, prefix string) *benchNodes {
	n := &benchNodes{prefix: prefix}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, name := range n.names {
			err := tb.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
			if client.IgnoreNotFound(err) != nil {
				b.Errorf("deleting node %s: %v", name, err)
			}
		}
	})
	return n
}

// ensureCapacity adds nodes until the set holds pods pods with one node to
// spare, and waits until kwok has made them Ready.
func (n *benchNodes) ensureCapacity(b testing.TB, pods int) {
	b.Helper()
	want := (pods+benchPodsPerNode-1)/benchPodsPerNode + 1
	if len(n.names) >= want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var added []string
	for i := len(n.names); i < want; i++ {
		node := benchNode(fmt.Sprintf("%s-%03d", n.prefix, i))
		if err := tb.Client.Create(ctx, node); err != nil {
			b.Fatalf("creating kwok node %s: %v", node.Name, err)
		}
		n.names = append(n.names, node.Name)
		added = append(added, node.Name)
	}
	harness.WaitFor(b, 5*time.Minute, fmt.Sprintf("%d kwok nodes to be Ready", len(added)), func(ctx context.Context) (bool, error) {
		for _, name := range added {
			node := &corev1.Node{}
			if err := tb.Client.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
				return false, err
			}
			if !nodeReady(node) {
				return false, fmt.Errorf("node %s is not Ready", name)
			}
		}
		return true, nil
	})
	b.Logf("added %d kwok nodes (%d in all, %d pods each) in %s", len(added), len(n.names), benchPodsPerNode, time.Since(start).Round(100*time.Millisecond))
}

// benchNode is a kwok node shaped like those of e2e/testbed/nodes.yaml:
// kwok fills in its conditions, and the taint keeps off every pod that does
// not tolerate fake nodes.
func benchNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(benchPodsPerNode, resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"type":                        benchNodeType,
				"kubernetes.io/arch":          "amd64",
				"kubernetes.io/os":            "linux",
				"kubernetes.io/hostname":      name,
				"topology.kubernetes.io/zone": "zone-bench",
			},
		},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// --- namespaces and Deployments ---------------------------------------------

// benchNamespace creates a namespace named prefix plus a random suffix,
// opted in to chaos when enabled, and returns its name. It is deleted when
// b ends (see deleteNamespace).
func benchNamespace(b testing.TB, prefix string, enabled bool) string {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if enabled {
		ns.Labels = map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tb.Client.Create(ctx, ns); err != nil {
		b.Fatalf("creating namespace %s*: %v", prefix, err)
	}
	b.Cleanup(func() { deleteNamespace(b, ns.Name) })
	return ns.Name
}

// deleteNamespace deletes a namespace and waits until it is gone, so the
// next measurement does not share the control plane with its teardown. A
// namespace still terminating after the wait is logged, not failed: it is
// slow, not wrong, and the namespace controller finishes it.
func deleteNamespace(b testing.TB, name string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := tb.Client.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		b.Errorf("deleting namespace %s: %v", name, err)
		return
	}
	err := harness.Poll(ctx, 15*time.Minute, func(ctx context.Context) (bool, error) {
		err := tb.Client.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		if harness.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		b.Logf("namespace %s is still terminating %s after its deletion: %v", name, time.Since(start).Round(time.Second), err)
	}
}

// benchDeployment is a Deployment of replicas kwok pods on the benchmark
// nodes, labelled benchAppLabel=name, Ready readyDelay after they start.
func benchDeployment(namespace, name string, replicas int32, readyDelay time.Duration) *appsv1.Deployment {
	labels := map[string]string{benchAppLabel: name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{harness.ReadyDelayAnnotation: readyDelay.String()},
				},
				Spec: corev1.PodSpec{
					NodeSelector:                 map[string]string{"type": benchNodeType},
					Tolerations:                  []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					Containers:                   []corev1.Container{{Name: "app", Image: "registry.example/bench/app:1.0"}},
				},
			},
		},
	}
}

// waitDeploymentsReady waits until every Deployment has all its replicas
// Ready, allowing time in proportion to the pods: the scheduler,
// controller-manager and kwok share the machine's cores.
func waitDeploymentsReady(b testing.TB, deployments []*appsv1.Deployment) time.Duration {
	b.Helper()
	var total int32
	for _, d := range deployments {
		total += *d.Spec.Replicas
	}
	timeout := 2*time.Minute + time.Duration(total)*100*time.Millisecond
	return harness.WaitFor(b, timeout, fmt.Sprintf("%d pods of %d Deployments to be Ready", total, len(deployments)), func(ctx context.Context) (bool, error) {
		var ready int32
		var notReady []string
		for _, d := range deployments {
			got := &appsv1.Deployment{}
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
				return false, err
			}
			ready += got.Status.ReadyReplicas
			if got.Status.ReadyReplicas != *d.Spec.Replicas || got.Status.ObservedGeneration < got.Generation {
				notReady = append(notReady, d.Namespace+"/"+d.Name)
			}
		}
		if len(notReady) > 0 {
			return false, fmt.Errorf("%d of %d pods Ready; not yet: %s", ready, total, strings.Join(notReady[:min(len(notReady), 5)], ", "))
		}
		return true, nil
	})
}

// createAll creates objs with workers requests at a time.
func createAll(ctx context.Context, objs []client.Object, workers int) error {
	jobs := make(chan client.Object)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range jobs {
				if err := tb.Client.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
	for _, o := range objs {
		jobs <- o
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}

// --- timing pod deletions ----------------------------------------------------------

// deletionWatch records when each of a set of pods is first seen deleted
// (deletionTimestamp set, or gone) by a watch of its own: the same
// observer for every way of killing pods, on the same clock as the
// operator's status timestamps (this machine's).
type deletionWatch struct {
	// Pods are the pods being timed, as listed when the watch started.
	Pods []corev1.Pod

	mu   sync.Mutex
	want map[types.UID]bool
	seen map[types.UID]time.Time
	last time.Time
	err  error
	done chan struct{}
}

// watchDeletions lists the pods of namespace matching selector and watches
// them from that list's resourceVersion, so no deletion after the list is
// missed. The watch ends with ctx.
func watchDeletions(ctx context.Context, cs kubernetes.Interface, namespace, selector string) (*deletionWatch, error) {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods %s in %s: %w", selector, namespace, err)
	}
	w := &deletionWatch{Pods: list.Items, want: map[types.UID]bool{}, seen: map[types.UID]time.Time{}, done: make(chan struct{})}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			w.want[p.UID] = true
		}
	}
	rv := list.ResourceVersion
	open := func() (watch.Interface, error) {
		return cs.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{
			LabelSelector: selector, ResourceVersion: rv, TimeoutSeconds: ptr.To[int64](3600),
		})
	}
	wi, err := open()
	if err != nil {
		return nil, fmt.Errorf("watching pods %s in %s: %w", selector, namespace, err)
	}
	go func() {
		defer wi.Stop()
		for {
			ev, ok := <-wi.ResultChan()
			if !ok {
				// The apiserver ends watches now and then; go on from the
				// last version seen.
				if ctx.Err() != nil {
					return
				}
				if wi, err = open(); err != nil {
					w.fail(fmt.Errorf("watching pods again from %s: %w", rv, err))
					return
				}
				continue
			}
			at := time.Now()
			if ev.Type == watch.Error {
				w.fail(fmt.Errorf("pod watch: %v", ev.Object))
				return
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				w.observe(p.UID, at)
			}
		}
	}()
	return w, nil
}

func (w *deletionWatch) observe(uid types.UID, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.want[uid] {
		return
	}
	if _, ok := w.seen[uid]; ok {
		return
	}
	w.seen[uid] = at
	if at.After(w.last) {
		w.last = at
	}
	if len(w.seen) == len(w.want) {
		close(w.done)
	}
}

func (w *deletionWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// Wait waits until every pod was seen deleted or timeout passes, and
// returns when the last one deleted so far was seen and how many were. A
// broken watch is an error; a timeout is not (complete is false).
func (w *deletionWatch) Wait(timeout time.Duration) (last time.Time, deleted int, complete bool, err error) {
	if len(w.want) > 0 {
		deadline := time.After(timeout)
	wait:
		for {
			select {
			case <-w.done:
				break wait
			case <-deadline:
				break wait
			case <-time.After(time.Second):
				w.mu.Lock()
				failed := w.err != nil
				w.mu.Unlock()
				if failed {
					break wait
				}
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, len(w.seen), len(w.seen) == len(w.want), w.err
}

// --- the operator process -------------------------------------------------------

// operatorPID is the PID of the running operator.
func operatorPID(b testing.TB) int {
	b.Helper()
	pid, err := harness.ReadPID(tb.Operator.PIDPath)
	if err != nil {
		b.Fatalf("the operator's PID: %v", err)
	}
	return pid
}

// procMemory returns a process's resident set and its peak, in bytes, from
// /proc/PID/status.
func procMemory(pid int) (rss, peak uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
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

// operatorUsage is what the operator used while it was left alone.
type operatorUsage struct {
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

// measureOperator samples the operator's CPU time over window, touching
// nothing (no metrics scrape by the benchmark), then reads its memory.
func measureOperator(b testing.TB, window time.Duration) operatorUsage {
	b.Helper()
	pid, hz := operatorPID(b), clockTicks(b)
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
	rss, peak, err := procMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	u := operatorUsage{RSS: rss, Peak: peak, CPU: float64(after-before) / hz / elapsed.Seconds(), Window: elapsed}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if heap, err := operatorMetric(ctx, "go_memstats_heap_inuse_bytes"); err != nil {
		b.Logf("the operator's heap in use is unknown: %v", err)
	} else {
		u.HeapInUse = uint64(heap)
	}
	return u
}

// memory formats u's resident set, with its peak and the Go heap in use.
func (u operatorUsage) memory() string {
	s := fmt.Sprintf("%s (peak %s", mib(u.RSS), mib(u.Peak))
	if u.HeapInUse > 0 {
		s += ", Go heap in use " + mib(u.HeapInUse)
	}
	return s + ")"
}

// mib formats bytes in MiB.
func mib(bytes uint64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// percentOfCore formats a share of one core.
func percentOfCore(share float64) string { return fmt.Sprintf("%.2f%% of a core", 100*share) }

// waitOperatorQuiet waits until the operator's work queues have been empty
// for three scrapes in a row, then a little longer for the work taken last
// to end. An operator that stays busy is logged, not failed: what it uses
// then is still the figure.
func waitOperatorQuiet(b testing.TB, timeout time.Duration) {
	b.Helper()
	start, quiet := time.Now(), 0
	err := harness.Poll(context.Background(), timeout, func(ctx context.Context) (bool, error) {
		depth, err := workQueueDepth(ctx)
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
func workQueueDepth(ctx context.Context) (float64, error) {
	return operatorMetric(ctx, "workqueue_depth")
}

// operatorMetric sums the samples of one metric the operator exports.
func operatorMetric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+tb.Operator.MetricsAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
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

// relaxPolicyForBench lifts, for the benchmark, the ChaosPolicy limits
// that would refuse or hold its runs (a workload share cap, a lower
// maximum of concurrent runs) and puts them back when b ends. A paused
// policy is an error: the testbed was left with the kill switch on.
func relaxPolicyForBench(b testing.TB, concurrentRuns int32) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := tb.Client.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
		b.Fatalf("reading the ChaosPolicy: %v", err)
	}
	if p.Spec.Paused {
		b.Fatal("the ChaosPolicy is paused (kill switch on): no run would start")
	}
	oldPercent, oldRuns := p.Spec.MaxWorkloadPercent, p.Spec.MaxConcurrentRuns
	if oldPercent == nil && (oldRuns == nil || *oldRuns >= concurrentRuns) {
		return
	}
	patch := fmt.Appendf(nil, `{"spec":{"maxWorkloadPercent":null,"maxConcurrentRuns":%d}}`, max(concurrentRuns, ptr.Deref(oldRuns, 0)))
	if oldRuns == nil {
		patch = []byte(`{"spec":{"maxWorkloadPercent":null}}`)
	}
	if err := tb.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
		b.Fatalf("relaxing the ChaosPolicy for the benchmark: %v", err)
	}
	b.Logf("ChaosPolicy relaxed for the benchmark: %s", patch)
	restore, err := json.Marshal(map[string]any{"spec": map[string]any{"maxWorkloadPercent": oldPercent, "maxConcurrentRuns": oldRuns}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tb.Client.Patch(ctx, &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}}, client.RawPatch(types.MergePatchType, restore)); err != nil {
			b.Errorf("restoring the ChaosPolicy: %v", err)
		}
	})
}
