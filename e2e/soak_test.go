//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// TestSoak is the campaign against the operator itself: runs of every
// fault kind, at once on different targets, while a driver, from a seed it
// prints, SIGKILLs the operator (also at the instants between writing a
// run's targets and injecting, and between injecting and recording it),
// runs two replicas with leader election and kills the leader, stops the
// API server, stops Prometheus, deletes runs and Experiments in flight and
// flips the kill switch. At the end it judges, from the cluster itself,
// that no fault outlived its run (soak_checker_test.go).
//
// By default it is short enough for `make test`; `make soak` runs the full
// campaign. Environment (counts are minimums the campaign runs until):
//
//	FAULTLINE_SOAK_SEED              the driver's seed (default: from the clock; printed)
//	FAULTLINE_SOAK_KILLS             operator SIGKILLs (default 6)
//	FAULTLINE_SOAK_FAILOVERS         leader kills with two replicas (default 1)
//	FAULTLINE_SOAK_APISERVER_OUTAGES kube-apiserver stops (default 1)
//	FAULTLINE_SOAK_PROMETHEUS_OUTAGES Prometheus stops (default 1)
//	FAULTLINE_SOAK_DELETIONS         runs and Experiments deleted in flight (default 2)
//	FAULTLINE_SOAK_KILL_SWITCH       kill-switch flips (default 1)
//	FAULTLINE_SOAK_TIMEOUT           give up after (default 15m)
//	FAULTLINE_SOAK_REPORT            also write the figures to this file
func TestSoak(t *testing.T) {
	tb.RequireOperator(t)
	tb.RequireManaged(t)
	tb.RequireSteadyState(t)
	tb.RelaxPolicyForBench(t, 8)

	goal := soakGoal{
		kills:        harness.EnvInt(t, "FAULTLINE_SOAK_KILLS", 6),
		failovers:    harness.EnvInt(t, "FAULTLINE_SOAK_FAILOVERS", 1),
		apiOutages:   harness.EnvInt(t, "FAULTLINE_SOAK_APISERVER_OUTAGES", 1),
		promOutages:  harness.EnvInt(t, "FAULTLINE_SOAK_PROMETHEUS_OUTAGES", 1),
		deletions:    harness.EnvInt(t, "FAULTLINE_SOAK_DELETIONS", 2),
		killSwitches: harness.EnvInt(t, "FAULTLINE_SOAK_KILL_SWITCH", 1),
	}
	timeout := harness.EnvDuration(t, "FAULTLINE_SOAK_TIMEOUT", 15*time.Minute)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULTLINE_SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("FAULTLINE_SOAK_SEED=%q: %v", s, err)
		}
	}
	t.Logf("soak: seed %d (reproduce with FAULTLINE_SOAK_SEED=%d); goal %+v", seed, seed, goal)

	env := newSoakEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := env.checker.start(ctx); err != nil {
		t.Fatalf("starting the checker's watches: %v", err)
	}
	env.ops = newSoakOperators(t)

	started := time.Now()
	genCtx, stopGen := context.WithCancel(ctx)
	var gen sync.WaitGroup
	for _, exp := range env.experiments {
		gen.Add(1)
		go func() {
			defer gen.Done()
			env.generate(genCtx, exp)
		}()
	}

	d := &soakDriver{env: env, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), goal: goal}
	deadline := started.Add(timeout)
	for !d.done() && time.Now().Before(deadline) && !t.Failed() {
		d.step(t)
		time.Sleep(time.Duration(500+d.rng.IntN(2500)) * time.Millisecond)
	}
	stopGen()
	gen.Wait()
	if !d.done() {
		t.Errorf("the campaign did not reach its goal within %s: %s", timeout, d.counts())
	}
	campaign := time.Since(started)

	// Every run must end, with the operators up and the kill switch off.
	d.toSingle(t)
	tb.SetPaused(t, false)
	harness.WaitFor(t, 5*time.Minute, "every soak run to end", func(context.Context) (bool, error) {
		if a := env.checker.active(""); len(a) > 0 {
			return false, fmt.Errorf("%d runs not ended, first %s (phase %q)", len(a), a[0].key(), phaseOf(a[0]))
		}
		return true, nil
	})
	violations := env.checker.violations(d.promOutages)
	// The campaign means nothing if the testbed lost a component on the way.
	for _, c := range []string{"etcd", "kube-controller-manager", "kube-scheduler", "kwok-controller"} {
		pidFile := filepath.Join(tb.StateDir, "kwok", "clusters", harness.EnvOr("FAULTLINE_TESTBED_NAME", "faultline"), "pids", c+".pid")
		if pid, err := harness.ReadPID(pidFile); err != nil || !harness.ProcessLive(pid) {
			t.Errorf("the testbed's %s is not running at the end of the campaign (%v): the campaign ran without it; see its log", c, err)
		}
	}

	// Nothing may hold on to a finalizer: delete every soak object and see
	// it go.
	env.deleteAll(t)
	leftovers, err := env.checker.leftovers(context.Background())
	if err != nil {
		t.Fatalf("listing leftovers: %v", err)
	}
	cancel()

	report := d.report(env, campaign, seed, leftovers, violations)
	t.Log("\n" + report)
	if path := os.Getenv("FAULTLINE_SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		}
	}
	for _, l := range leftovers {
		t.Errorf("leftover: %s", l)
	}
	for _, v := range violations {
		t.Errorf("invariant violated: %s", v)
	}
	for _, v := range d.violations {
		t.Errorf("invariant violated: %s", v)
	}
}

type soakGoal struct {
	kills, failovers, apiOutages, promOutages, deletions, killSwitches int
}

// --- what runs ---------------------------------------------------------------

type soakEnv struct {
	t           *testing.T
	ns          string
	checker     *soakChecker
	ops         *soakOperators
	experiments []*chaosv1alpha1.Experiment

	mu      sync.Mutex
	created int
	// held: experiments the driver deleted, not to be recreated before.
	held map[string]time.Time
}

const (
	soakVictim = "soak-victim" // pods killed by the pod-kill runs
	soakTenant = "soak-tenant" // pods evicted by the drains
)

// newSoakEnv makes a namespace, kwok nodes and two Deployments of its own
// for the pod kills and the drains, so that what each fault may touch is
// known, and the four Experiments the campaign runs.
func newSoakEnv(t *testing.T) *soakEnv {
	ns := tb.BenchNamespace(t, "soak-", true)
	env := &soakEnv{t: t, ns: ns, held: map[string]time.Time{}}
	c := newSoakChecker(ns)
	c.victimApp, c.tenantApp = soakVictim, soakTenant
	c.drainNodes = []string{"soak-drain-1", "soak-drain-2"}
	c.vsNames = []string{"checkout", "payments"}
	env.checker = c

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pools := map[string]string{"soak-kill-1": "soak-kill", "soak-drain-1": "soak-drain", "soak-drain-2": "soak-drain"}
	for name, pool := range pools {
		n := harness.BenchNode(name)
		n.Labels["type"] = pool
		if err := tb.Client.Create(ctx, n); err != nil {
			t.Fatalf("creating node %s: %v", name, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = tb.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
		})
	}
	var deps []*appsv1.Deployment
	for app, pool := range map[string]string{soakVictim: "soak-kill", soakTenant: "soak-drain"} {
		d := harness.BenchDeployment(ns, app, 3, time.Second)
		d.Spec.Template.Spec.NodeSelector = map[string]string{"type": pool}
		if err := tb.Client.Create(ctx, d); err != nil {
			t.Fatalf("creating Deployment %s: %v", app, err)
		}
		deps = append(deps, d)
	}
	tb.WaitDeploymentsReady(t, deps)

	readiness := func(app string) chaosv1alpha1.Probe {
		return chaosv1alpha1.Probe{Name: app + "-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: app, MinReadyPercent: 100}}
	}
	steady := func(probes ...chaosv1alpha1.Probe) chaosv1alpha1.SteadyStateSpec {
		return chaosv1alpha1.SteadyStateSpec{
			Interval: metav1.Duration{Duration: harness.ProbeInterval}, Baseline: metav1.Duration{Duration: 2 * time.Second},
			Stabilization: 2, RecoveryTimeout: metav1.Duration{Duration: 30 * time.Second}, Probes: probes,
		}
	}
	kill := &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "soak-kill", Namespace: ns},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod, Mode: chaosv1alpha1.SelectOne, MaxTargets: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{harness.BenchAppLabel: soakVictim}}},
			Fault:       chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
			SteadyState: steady(readiness(soakVictim)),
		},
	}
	drain := &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "soak-drain", Namespace: ns},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode, Names: c.drainNodes, Mode: chaosv1alpha1.SelectOne, MaxTargets: ptr.To[int32](1)},
			Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{
				GracePeriodSeconds: ptr.To[int64](0), Timeout: &metav1.Duration{Duration: 30 * time.Second},
			}},
			Duration:    &metav1.Duration{Duration: 8 * time.Second},
			SteadyState: steady(readiness(soakTenant)),
		},
	}
	istio := func(name, vs string, fault chaosv1alpha1.IstioFault, onError chaosv1alpha1.ProbeErrorPolicy) *chaosv1alpha1.Experiment {
		exp := tb.IstioExperiment(name, fault, 12*time.Second)
		exp.Spec.Target.Names = []string{vs}
		exp.Spec.SteadyState = steady(chaosv1alpha1.Probe{
			Name:       vs + "-success",
			Prometheus: &chaosv1alpha1.PrometheusQuery{Query: harness.SuccessRatioQuery(vs, "5s")},
			Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.5"},
		})
		exp.Spec.Objectives = nil
		exp.Spec.Abort = &chaosv1alpha1.AbortSpec{OnProbeError: onError, ProbeErrorThreshold: 3}
		return exp
	}
	delay := istio("soak-delay", "checkout", chaosv1alpha1.IstioFault{
		Routes: []string{"primary"}, Delay: &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: 20 * time.Millisecond}, Percent: 20},
	}, chaosv1alpha1.ProbeErrorContinue)
	abort := istio("soak-abort", "payments", harness.AbortFault(20), chaosv1alpha1.ProbeErrorAbort)

	env.experiments = []*chaosv1alpha1.Experiment{kill, drain, delay, abort}
	c.experiments = map[string]string{"soak-kill": "pod", "soak-drain": "node", "soak-delay": "vs", "soak-abort": "vs"}
	c.vsExperiment = map[string]string{"checkout": "soak-delay", "payments": "soak-abort"}
	t.Cleanup(func() { env.deleteAll(t) })
	return env
}

// generate keeps one run of exp going: it (re)creates exp when missing and
// starts a run whenever the last one ended. Refusals (the webhooks or the
// API server away, the kill switch on) are tried again a second later.
func (e *soakEnv) generate(ctx context.Context, exp *chaosv1alpha1.Experiment) {
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		e.mu.Lock()
		until := e.held[exp.Name]
		e.mu.Unlock()
		if time.Now().Before(until) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		current := &chaosv1alpha1.Experiment{}
		err := tb.Client.Get(rctx, client.ObjectKeyFromObject(exp), current)
		if harness.IsNotFound(err) {
			current = exp.DeepCopy()
			err = tb.Client.Create(rctx, current)
		}
		if err == nil && len(e.checker.active(exp.Name)) == 0 {
			// Owned by the Experiment, as a scheduled run is: deleting the
			// Experiment deletes it.
			run := &chaosv1alpha1.ExperimentRun{
				ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, GenerateName: exp.Name + "-",
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(current, chaosv1alpha1.GroupVersion.WithKind("Experiment"))}},
				Spec: chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
			}
			if err = tb.Client.Create(rctx, run); err == nil {
				e.mu.Lock()
				e.created++
				e.mu.Unlock()
				// The checker must see it before the next round asks.
				_ = harness.Poll(rctx, 5*time.Second, func(context.Context) (bool, error) {
					return len(e.checker.active(exp.Name)) > 0, nil
				})
			}
		}
		cancel()
	}
}

// deleteAll deletes the campaign's runs and Experiments and waits until
// they are gone: a finalizer left behind fails here.
func (e *soakEnv) deleteAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, ns := range []string{e.ns, harness.ShopNamespace} {
		runs := &chaosv1alpha1.ExperimentRunList{}
		if err := tb.Client.List(ctx, runs, client.InNamespace(ns)); err != nil {
			t.Errorf("listing runs: %v", err)
			return
		}
		for i := range runs.Items {
			r := &runs.Items[i]
			if _, ours := e.checker.experiments[r.Spec.ExperimentRef.Name]; ours {
				_ = tb.Client.Delete(ctx, r)
			}
		}
	}
	for _, exp := range e.experiments {
		_ = tb.Client.Delete(ctx, exp.DeepCopy())
	}
	err := harness.Poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		var left []string
		for _, ns := range []string{e.ns, harness.ShopNamespace} {
			runs := &chaosv1alpha1.ExperimentRunList{}
			if err := tb.Client.List(ctx, runs, client.InNamespace(ns)); err != nil {
				return false, err
			}
			for _, r := range runs.Items {
				if _, ours := e.checker.experiments[r.Spec.ExperimentRef.Name]; ours {
					left = append(left, fmt.Sprintf("%s/%s (finalizers %v)", r.Namespace, r.Name, r.Finalizers))
				}
			}
		}
		for _, exp := range e.experiments {
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(exp), &chaosv1alpha1.Experiment{}); err == nil {
				left = append(left, "Experiment "+exp.Name)
			}
		}
		if len(left) > 0 {
			return false, fmt.Errorf("not gone: %s", strings.Join(left[:min(len(left), 5)], ", "))
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("deleting the campaign's objects: %v", err)
	}
}

func phaseOf(r *runRecord) chaosv1alpha1.RunPhase {
	if r.run == nil {
		return ""
	}
	return r.run.Status.Phase
}

// --- the driver --------------------------------------------------------------

type soakDriver struct {
	env  *soakEnv
	rng  *rand.Rand
	goal soakGoal

	kills, failovers, apiOutages, deletions, killSwitches int
	runDeletions, experimentDeletions                     int
	// killMoments counts kills by where a run stood when they came.
	killMoments map[string]int
	takeovers   []time.Duration
	apiDowntime []time.Duration
	promOutages []promOutage
	switchTimes []time.Duration
	// switchReverted counts the faults active when the kill switch flipped.
	switchReverted int
	// pairLeft: actions left in two-replica mode.
	pairLeft   int
	violations []string
}

func (d *soakDriver) done() bool {
	g := d.goal
	return d.kills >= g.kills && d.failovers >= g.failovers && d.apiOutages >= g.apiOutages &&
		len(d.promOutages) >= g.promOutages && d.deletions >= g.deletions && d.killSwitches >= g.killSwitches
}

func (d *soakDriver) counts() string {
	return fmt.Sprintf("kills %d/%d, failovers %d/%d, apiserver outages %d/%d, Prometheus outages %d/%d, deletions %d/%d, kill-switch flips %d/%d",
		d.kills, d.goal.kills, d.failovers, d.goal.failovers, d.apiOutages, d.goal.apiOutages,
		len(d.promOutages), d.goal.promOutages, d.deletions, d.goal.deletions, d.killSwitches, d.goal.killSwitches)
}

// step takes one action, chosen at random among those still short of
// their goal, kills weighted the most.
func (d *soakDriver) step(t *testing.T) {
	type action struct {
		weight int
		left   bool
		do     func(*testing.T)
	}
	actions := []action{
		{12, d.kills < d.goal.kills, d.kill},
		{2, d.failovers < d.goal.failovers, d.failover},
		{1, d.apiOutages < d.goal.apiOutages, d.apiserverOutage},
		{1, len(d.promOutages) < d.goal.promOutages, d.prometheusOutage},
		{2, d.deletions < d.goal.deletions, d.deleteInFlight},
		{1, d.killSwitches < d.goal.killSwitches, d.flipKillSwitch},
	}
	total := 0
	for _, a := range actions {
		if a.left {
			total += a.weight
		}
	}
	if total == 0 {
		return
	}
	n := d.rng.IntN(total)
	for _, a := range actions {
		if !a.left {
			continue
		}
		if n < a.weight {
			a.do(t)
			break
		}
		n -= a.weight
	}
	if d.pairLeft > 0 {
		if d.pairLeft--; d.pairLeft == 0 {
			d.toSingle(t)
		}
	}
}

// kill SIGKILLs an operator, half the time at a run's most fragile
// instant: its targets written and its injection not recorded.
func (d *soakDriver) kill(t *testing.T) {
	if d.killMoments == nil {
		d.killMoments = map[string]int{}
	}
	moment, key := "any instant", ""
	if d.rng.IntN(2) == 0 {
		// Drop moments that went by while the driver did something else.
		for len(d.env.checker.moments) > 0 {
			<-d.env.checker.moments
		}
		select {
		case key = <-d.env.checker.moments:
		case <-time.After(time.Duration(5+d.rng.IntN(10)) * time.Second):
		}
	}
	reps := d.env.ops.current()
	r := reps[d.rng.IntN(len(reps))]
	wasLeader := len(reps) > 1 && harness.IsLeader(context.Background(), r.op.MetricsAddr)
	d.env.ops.kill(r)
	d.kills++
	if key != "" {
		// Where the run stood when its operator died; the checker's
		// watches lag the cluster by a few milliseconds.
		if moment = d.env.checker.killMoment(key); moment == "" {
			moment = "injection already recorded"
		}
	}
	d.killMoments[moment]++
	if wasLeader {
		d.takeover(t, r)
	}
	time.Sleep(time.Duration(d.rng.IntN(3000)) * time.Millisecond)
	d.env.ops.restart(r)
}

// failover runs two replicas with leader election, if not yet, and kills
// the leader.
func (d *soakDriver) failover(t *testing.T) {
	if d.killMoments == nil {
		d.killMoments = map[string]int{}
	}
	ops := d.env.ops
	if len(ops.current()) < 2 {
		d.countModeKills(ops.setMode(true, 2))
		d.pairLeft = 3 + d.rng.IntN(6)
		if _, _, err := ops.waitLeader(nil, 2*time.Minute); err != nil {
			t.Fatalf("two replicas: %v", err)
		}
	}
	leader := ops.leaderOf(context.Background())
	if leader == nil {
		var err error
		if leader, _, err = ops.waitLeader(nil, time.Minute); err != nil {
			t.Fatalf("no leader: %v", err)
		}
	}
	ops.kill(leader)
	d.kills++
	d.killMoments["the leader, to fail over"]++
	d.takeover(t, leader)
	time.Sleep(time.Duration(d.rng.IntN(2000)) * time.Millisecond)
	ops.restart(leader)
}

// takeover waits for another replica to lead after old was killed: within
// the lease and two jittered retries, or the campaign records a violation.
func (d *soakDriver) takeover(t *testing.T, old *soakReplica) {
	_, took, err := d.env.ops.waitLeader(old, 2*time.Minute)
	if err != nil {
		t.Fatalf("after killing leader %s: %v", old.name, err)
	}
	d.failovers++
	d.takeovers = append(d.takeovers, took)
	// The follower sees the lease's last renewal up to one of its attempts
	// late and takes it at its first attempt after the lease ran out;
	// client-go spaces attempts by the retry period jittered up to 2.2
	// times. Add the metrics poll's own delay.
	if limit := soakLeaseDuration + 2*soakRetryPeriod*22/10 + time.Second; took > limit {
		d.violations = append(d.violations, fmt.Sprintf("a new leader took over %s after the leader was killed, more than the lease and two jittered retries (%s)", took.Round(time.Millisecond), limit))
	}
}

// toSingle goes back to one replica without leader election.
func (d *soakDriver) toSingle(t *testing.T) {
	if len(d.env.ops.current()) == 1 && !d.env.ops.leader {
		return
	}
	d.countModeKills(d.env.ops.setMode(false, 1))
	d.pairLeft = 0
}

// countModeKills counts the replicas killed to change how many run.
func (d *soakDriver) countModeKills(n int) {
	if d.killMoments == nil {
		d.killMoments = map[string]int{}
	}
	d.kills += n
	d.killMoments["replacing the replicas"] += n
}

func (d *soakDriver) apiserverOutage(t *testing.T) {
	api, err := tb.FindAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := api.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(2000+d.rng.IntN(4000)) * time.Millisecond)
	if err := api.Start(); err != nil {
		t.Fatalf("restarting kube-apiserver: %v (see %s)", err, api.LogPath)
	}
	d.apiOutages++
	d.apiDowntime = append(d.apiDowntime, time.Since(start))
}

// prometheusOutage stops Prometheus while a run under onProbeError Abort
// is observing, for longer than its probe error threshold.
func (d *soakDriver) prometheusOutage(t *testing.T) {
	var observing []*runRecord
	_ = harness.Poll(context.Background(), 30*time.Second, func(context.Context) (bool, error) {
		observing = nil
		for _, r := range d.env.checker.active("") {
			if phaseOf(r) == chaosv1alpha1.PhaseObserving && r.run.Status.Experiment != nil && r.run.Status.Experiment.Fault.Istio != nil {
				observing = append(observing, r)
			}
		}
		for _, r := range observing {
			if r.experiment == "soak-abort" {
				return true, nil
			}
		}
		return false, nil
	})
	o := promOutage{from: time.Now(), policy: map[string]chaosv1alpha1.ProbeErrorPolicy{}}
	for _, r := range observing {
		o.observing = append(o.observing, r.key())
		o.policy[r.key()] = r.run.Status.Experiment.Abort.OnProbeError
	}
	tb.StopPrometheus(t)
	// Three errors at a 1s interval abort; hold it a few seconds longer.
	time.Sleep(time.Duration(5000+d.rng.IntN(3000)) * time.Millisecond)
	tb.StartPrometheus(t)
	o.to = time.Now()
	d.promOutages = append(d.promOutages, o)
}

// deleteInFlight deletes a run that has not ended, or now and then its
// Experiment, held back from re-creation for a few seconds.
func (d *soakDriver) deleteInFlight(t *testing.T) {
	active := d.env.checker.active("")
	if len(active) == 0 {
		return
	}
	r := active[d.rng.IntN(len(active))]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d.rng.IntN(3) == 0 {
		var exp *chaosv1alpha1.Experiment
		for _, e := range d.env.experiments {
			if e.Name == r.experiment {
				exp = e
			}
		}
		d.env.mu.Lock()
		d.env.held[exp.Name] = time.Now().Add(5 * time.Second)
		d.env.mu.Unlock()
		var keys []string
		for _, a := range d.env.checker.active(exp.Name) {
			keys = append(keys, a.key())
		}
		d.env.checker.markDeleted(keys, "experiment")
		if err := tb.Client.Delete(ctx, exp.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !harness.IsNotFound(err) {
			t.Errorf("deleting Experiment %s: %v", exp.Name, err)
			return
		}
		d.experimentDeletions++
	} else {
		d.env.checker.markDeleted([]string{r.key()}, "run")
		run := &chaosv1alpha1.ExperimentRun{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: r.name}}
		if err := tb.Client.Delete(ctx, run); err != nil && !harness.IsNotFound(err) {
			t.Errorf("deleting run %s: %v", r.key(), err)
			return
		}
		d.runDeletions++
	}
	d.deletions++
}

// flipKillSwitch pauses every run through the ChaosPolicy and measures
// how long until the cluster shows every fault reverted.
func (d *soakDriver) flipKillSwitch(t *testing.T) {
	// Flip it while some fault is active, so that it has work to do.
	_ = harness.Poll(context.Background(), 30*time.Second, func(context.Context) (bool, error) {
		return len(d.env.checker.openFaults()) > 0, nil
	})
	open := len(d.env.checker.openFaults())
	at := time.Now()
	tb.SetPaused(t, true)
	var took time.Duration
	err := harness.Poll(context.Background(), time.Minute, func(context.Context) (bool, error) {
		last, ok := d.env.checker.revertedBy(at)
		if !ok {
			return false, fmt.Errorf("still faulted: %v", d.env.checker.openFaults())
		}
		took = max(last.Sub(at), 0)
		return true, nil
	})
	if err != nil {
		d.violations = append(d.violations, fmt.Sprintf("the kill switch did not revert every fault within a minute: %v", err))
	}
	if open > 0 {
		d.switchTimes = append(d.switchTimes, took)
	}
	d.switchReverted += open
	time.Sleep(time.Duration(1000+d.rng.IntN(3000)) * time.Millisecond)
	tb.SetPaused(t, false)
	d.killSwitches++
}

// report prints the campaign's figures.
func (d *soakDriver) report(env *soakEnv, took time.Duration, seed uint64, leftovers, violations []string) string {
	c := env.checker
	c.mu.Lock()
	verdicts := map[string]int{}
	kinds := map[string]int{}
	for _, r := range c.runs {
		kinds[c.experiments[r.experiment]]++
		switch {
		case r.deletedBy != "":
			verdicts["deleted in flight"]++
		case r.run != nil && r.run.Status.Verdict != "":
			verdicts[string(r.run.Status.Verdict)]++
		default:
			verdicts["none"]++
		}
	}
	runs, relists := len(c.runs), c.relists
	vsFaults, cordons, podDeletions := len(c.vsSpans), len(c.nodeSpans), len(c.podDeletions)
	c.mu.Unlock()
	env.ops.mu.Lock()
	unplanned := env.ops.unplannedExits
	env.ops.mu.Unlock()

	var b strings.Builder
	fmt.Fprintf(&b, "soak campaign: seed %d, %s\n", seed, took.Round(time.Second))
	fmt.Fprintf(&b, "  operator kills (SIGKILL)      %d (%s)\n", d.kills, joinCounts(d.killMoments))
	fmt.Fprintf(&b, "  leader failovers              %d (takeover %s)\n", d.failovers, spread(d.takeovers))
	fmt.Fprintf(&b, "  replicas exited on their own  %d (restarted; a leader losing its lease while the API server is away)\n", unplanned)
	fmt.Fprintf(&b, "  kube-apiserver outages        %d (%s down)\n", d.apiOutages, spread(d.apiDowntime))
	var promDown []time.Duration
	for _, o := range d.promOutages {
		promDown = append(promDown, o.to.Sub(o.from))
	}
	var underAbort, underContinue int
	for _, o := range d.promOutages {
		for _, p := range o.policy {
			if p == chaosv1alpha1.ProbeErrorAbort {
				underAbort++
			} else {
				underContinue++
			}
		}
	}
	fmt.Fprintf(&b, "  Prometheus outages            %d (%s down; observing then: %d runs under onProbeError Abort, %d under Continue)\n",
		len(d.promOutages), spread(promDown), underAbort, underContinue)
	fmt.Fprintf(&b, "  deleted in flight             %d runs, %d Experiments\n", d.runDeletions, d.experimentDeletions)
	fmt.Fprintf(&b, "  kill-switch flips             %d (%d active faults; all reverted in %s)\n", d.killSwitches, d.switchReverted, spread(d.switchTimes))
	fmt.Fprintf(&b, "  runs                          %d (%s; %s)\n", runs, joinCounts(kinds), joinCounts(verdicts))
	fmt.Fprintf(&b, "  faults seen in the cluster    %d VirtualService changes, %d cordons, %d pods deleted\n", vsFaults, cordons, podDeletions)
	fmt.Fprintf(&b, "  checker relists               %d\n", relists)
	fmt.Fprintf(&b, "  leftovers                     %d\n", len(leftovers))
	fmt.Fprintf(&b, "  invariant violations          %d\n", len(violations)+len(d.violations))
	return b.String()
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// spread says min, median and max of ds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("min %s, median %s, max %s", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}
