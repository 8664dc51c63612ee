//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// The soak campaign's checker watches the cluster itself: pods, nodes,
// VirtualServices and runs, each through its own watch, resumed from the
// last resourceVersion after an API server outage and relisted (the
// difference replayed as events) when that version is gone. From what it
// saw, and independently of what Faultline reports, it judges every
// invariant of "no fault outlives its run".

// soakSlack is how much later than a run's end the checker may see the
// run's last change to a target: its watches are separate streams.
const soakSlack = 3 * time.Second

// span is a stretch during which a target was faulted, as the cluster
// showed it: a VirtualService whose spec differs from its original, a node
// cordoned. to is zero while it lasts.
type span struct {
	target   string
	from, to time.Time
}

type podDeletion struct {
	namespace, name, app, node string
	at                         time.Time
}

// runRecord is one run as the checker saw it.
type runRecord struct {
	namespace, name, experiment string
	firstSeen                   time.Time
	completedAt, goneAt         time.Time
	run                         *chaosv1alpha1.ExperimentRun
	// deletedBy says the driver deleted the run ("run") or its Experiment
	// ("experiment"); such a run need not reach a verdict, but must go.
	deletedBy string
	// phaseAt is when each phase was first seen.
	phaseAt map[chaosv1alpha1.RunPhase]time.Time
}

func (r *runRecord) end() time.Time {
	switch {
	case !r.completedAt.IsZero():
		return r.completedAt
	case !r.goneAt.IsZero():
		return r.goneAt
	}
	return time.Time{}
}

func (r *runRecord) key() string { return r.namespace + "/" + r.name }

type soakChecker struct {
	dc           dynamic.Interface
	soakNS       string
	drainNodes   []string
	vsNames      []string
	victimApp    string
	tenantApp    string
	experiments  map[string]string // experiment name -> target kind: pod, node, vs
	vsExperiment map[string]string // VirtualService -> experiment

	mu           sync.Mutex
	vsOriginal   map[string][]byte
	vsSpans      []*span
	nodeSpans    []*span
	podsGone     map[types.UID]bool
	podDeletions []podDeletion
	runs         map[string]*runRecord
	relists      int
	watchErrors  int
	// listed: the first lists are in; what they showed terminating
	// happened before the campaign.
	listed bool
	// moments receives runs whose targets are written and whose injection
	// is not recorded yet: the instant the driver may kill the operator.
	moments chan string
}

func newSoakChecker(soakNS string) *soakChecker {
	return &soakChecker{
		dc:           dynamic.NewForConfigOrDie(tb.Config),
		soakNS:       soakNS,
		experiments:  map[string]string{},
		vsExperiment: map[string]string{},
		vsOriginal:   map[string][]byte{},
		podsGone:     map[types.UID]bool{},
		runs:         map[string]*runRecord{},
		moments:      make(chan string, 16),
	}
}

// start lists everything it watches and starts the watches; it returns
// once the first lists are in.
func (c *soakChecker) start(ctx context.Context) error {
	streams := []struct {
		gvr    schema.GroupVersionResource
		ns     string
		handle func(watch.EventType, *unstructured.Unstructured, time.Time)
	}{
		{harness.PodsGVR, c.soakNS, c.onPod},
		{harness.PodsGVR, harness.ShopNamespace, c.onPod},
		{harness.NodesGVR, "", c.onNode},
		{harness.VirtualServicesGVR, harness.ShopNamespace, c.onVirtualService},
		{harness.ExperimentRunsGVR, c.soakNS, c.onRun},
		{harness.ExperimentRunsGVR, harness.ShopNamespace, c.onRun},
	}
	errs := make(chan error, len(streams))
	for _, s := range streams {
		ready := make(chan struct{})
		go harness.ObserveResource(ctx, c.dc.Resource(s.gvr).Namespace(s.ns), s.handle, c.countRelist, c.countWatchError, ready, errs)
		select {
		case <-ready:
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	c.listed = true
	c.mu.Unlock()
	return nil
}

func (c *soakChecker) countRelist() {
	c.mu.Lock()
	c.relists++
	c.mu.Unlock()
}

func (c *soakChecker) countWatchError() {
	c.mu.Lock()
	c.watchErrors++
	c.mu.Unlock()
}

func (c *soakChecker) onPod(typ watch.EventType, u *unstructured.Unstructured, at time.Time) {
	if typ != watch.Deleted && u.GetDeletionTimestamp() == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.podsGone[u.GetUID()] {
		return
	}
	c.podsGone[u.GetUID()] = true
	if !c.listed {
		// Terminating before the campaign began: not the campaign's doing.
		return
	}
	node, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName")
	app := u.GetLabels()[harness.BenchAppLabel]
	if app == "" {
		app = u.GetLabels()["app"]
	}
	c.podDeletions = append(c.podDeletions, podDeletion{namespace: u.GetNamespace(), name: u.GetName(), app: app, node: node, at: at})
}

func (c *soakChecker) onNode(typ watch.EventType, u *unstructured.Unstructured, at time.Time) {
	cordoned, _, _ := unstructured.NestedBool(u.Object, "spec", "unschedulable")
	if typ == watch.Deleted {
		cordoned = false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeSpans = track(c.nodeSpans, u.GetName(), cordoned, at)
}

func (c *soakChecker) onVirtualService(typ watch.EventType, u *unstructured.Unstructured, at time.Time) {
	spec, _ := json.Marshal(u.Object["spec"])
	c.mu.Lock()
	defer c.mu.Unlock()
	orig, ok := c.vsOriginal[u.GetName()]
	if !ok {
		// The first list: what every run must leave behind.
		c.vsOriginal[u.GetName()] = spec
		return
	}
	faulted := typ != watch.Deleted && string(spec) != string(orig)
	c.vsSpans = track(c.vsSpans, u.GetName(), faulted, at)
}

// track opens a span for target when it becomes faulted and closes the
// open one when it stops being so.
func track(spans []*span, target string, faulted bool, at time.Time) []*span {
	var open *span
	for _, s := range spans {
		if s.target == target && s.to.IsZero() {
			open = s
		}
	}
	switch {
	case faulted && open == nil:
		spans = append(spans, &span{target: target, from: at})
	case !faulted && open != nil:
		open.to = at
	}
	return spans
}

func (c *soakChecker) onRun(typ watch.EventType, u *unstructured.Unstructured, at time.Time) {
	run := &chaosv1alpha1.ExperimentRun{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, run); err != nil {
		return
	}
	if _, ours := c.experiments[run.Spec.ExperimentRef.Name]; !ours {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := run.Namespace + "/" + run.Name
	r := c.runs[key]
	if r == nil {
		r = &runRecord{namespace: run.Namespace, name: run.Name, experiment: run.Spec.ExperimentRef.Name, firstSeen: at,
			phaseAt: map[chaosv1alpha1.RunPhase]time.Time{}}
		c.runs[key] = r
	}
	if typ == watch.Deleted {
		if r.goneAt.IsZero() {
			r.goneAt = at
		}
		return
	}
	hadTargets := r.run != nil && len(r.run.Status.Targets) > 0
	r.run = run
	if _, ok := r.phaseAt[run.Status.Phase]; !ok && run.Status.Phase != "" {
		r.phaseAt[run.Status.Phase] = at
	}
	if run.Status.Phase == chaosv1alpha1.PhaseCompleted && r.completedAt.IsZero() {
		r.completedAt = at
	}
	if !hadTargets && len(run.Status.Targets) > 0 && run.Status.Timeline.InjectedAt == nil {
		select {
		case c.moments <- key:
		default:
		}
	}
}

// active returns the runs of experiment that have not ended.
func (c *soakChecker) active(experiment string) []*runRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*runRecord
	for _, r := range c.runs {
		// A run deleted (or whose Experiment was) has ended only once it
		// is gone: its verdict may come first, and the garbage collector
		// takes it some time after.
		ended := !r.end().IsZero() && (r.deletedBy == "" || !r.goneAt.IsZero())
		if (experiment == "" || r.experiment == experiment) && !ended {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].firstSeen.Before(out[j].firstSeen) })
	return out
}

// markDeleted records that the driver deleted these runs.
func (c *soakChecker) markDeleted(keys []string, by string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if r := c.runs[k]; r != nil && r.deletedBy == "" {
			r.deletedBy = by
		}
	}
}

// killMoment says, for the run at key, where it stood when the operator
// was killed: targets written but nothing injected, injected in the
// cluster but not recorded, or neither of those.
func (c *soakChecker) killMoment(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[key]
	if r == nil || r.run == nil || len(r.run.Status.Targets) == 0 || r.run.Status.Timeline.InjectedAt != nil {
		return ""
	}
	if c.faultSeenLocked(r) {
		return "injected, not recorded"
	}
	return "targets written, not injected"
}

// faultSeenLocked reports whether the cluster shows r's fault.
func (c *soakChecker) faultSeenLocked(r *runRecord) bool {
	switch c.experiments[r.experiment] {
	case "vs":
		for _, s := range c.vsSpans {
			if c.vsExperiment[s.target] == r.experiment && !s.from.Before(r.firstSeen) {
				return true
			}
		}
	case "node":
		for _, s := range c.nodeSpans {
			if slices.Contains(c.drainNodes, s.target) && !s.from.Before(r.firstSeen) {
				return true
			}
		}
	case "pod":
		for _, d := range c.podDeletions {
			if d.app == c.victimApp && !d.at.Before(r.firstSeen) {
				return true
			}
		}
	}
	return false
}

// openFaults returns the targets faulted now.
func (c *soakChecker) openFaults() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range append(append([]*span(nil), c.vsSpans...), c.nodeSpans...) {
		if s.to.IsZero() {
			out = append(out, s.target)
		}
	}
	return out
}

// revertedBy returns when every fault open at `at` had closed, or false.
func (c *soakChecker) revertedBy(at time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, s := range append(append([]*span(nil), c.vsSpans...), c.nodeSpans...) {
		if s.from.After(at) || (!s.to.IsZero() && s.to.Before(at)) {
			continue
		}
		if s.to.IsZero() {
			return time.Time{}, false
		}
		if s.to.After(last) {
			last = s.to
		}
	}
	return last, true
}

// violations judges every invariant from what the checker saw; the runs
// must all have ended.
func (c *soakChecker) violations(prom []promOutage) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var v []string
	add := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	runsOf := func(kind string) []*runRecord {
		var out []*runRecord
		for _, r := range c.runs {
			if c.experiments[r.experiment] == kind {
				out = append(out, r)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].firstSeen.Before(out[j].firstSeen) })
		return out
	}

	// Every run reached a verdict, or was deleted and is gone.
	for _, r := range c.runs {
		switch {
		case r.deletedBy != "" && r.goneAt.IsZero():
			add("run %s, deleted with its %s, is still there (a finalizer left?)", r.key(), r.deletedBy)
		case r.deletedBy == "" && r.goneAt.IsZero() && (r.run == nil || r.run.Status.Phase != chaosv1alpha1.PhaseCompleted || r.run.Status.Verdict == ""):
			phase, msg := chaosv1alpha1.RunPhase(""), ""
			if r.run != nil {
				phase, msg = r.run.Status.Phase, r.run.Status.Message
			}
			add("run %s has no verdict: phase %q: %s", r.key(), phase, msg)
		}
	}

	// Each fault span lies in exactly one run's window of the experiment
	// that targets it, and each run faulted its target at most once.
	assign := func(spans []*span, kind string, owns func(*runRecord, *span) bool) {
		used := map[*runRecord]int{}
		for _, s := range spans {
			var owner *runRecord
			for _, r := range runsOf(kind) {
				end := r.end()
				if !owns(r, s) || s.from.Before(r.firstSeen) || (!end.IsZero() && s.from.After(end.Add(soakSlack))) {
					continue
				}
				if used[r] == 0 {
					owner = r
					break
				}
				if owner == nil {
					owner = r
				}
			}
			if owner == nil {
				add("%s was faulted at %s outside any run", s.target, s.from.Format(time.StampMilli))
				continue
			}
			used[owner]++
			if used[owner] > 1 {
				add("run %s faulted %s a second time at %s (injected twice)", owner.key(), s.target, s.from.Format(time.StampMilli))
			}
			end := owner.end()
			switch {
			case s.to.IsZero():
				add("%s is still faulted; its run %s ended at %s", s.target, owner.key(), end.Format(time.StampMilli))
			case !end.IsZero() && s.to.After(end.Add(soakSlack)):
				add("%s stayed faulted until %s, %s after its run %s ended", s.target, s.to.Format(time.StampMilli), s.to.Sub(end).Round(time.Millisecond), owner.key())
			}
		}
	}
	assign(c.vsSpans, "vs", func(r *runRecord, s *span) bool { return c.vsExperiment[s.target] == r.experiment })
	var drainSpans, otherCordons []*span
	for _, s := range c.nodeSpans {
		if slices.Contains(c.drainNodes, s.target) {
			drainSpans = append(drainSpans, s)
		} else {
			otherCordons = append(otherCordons, s)
		}
	}
	assign(drainSpans, "node", func(*runRecord, *span) bool { return true })
	for _, s := range otherCordons {
		add("node %s, which no soak run targets, was cordoned at %s", s.target, s.from.Format(time.StampMilli))
	}

	// Pods: victims killed only by pod-kill runs, at most maxTargets each;
	// tenants evicted only from a node a drain had cordoned; nothing else.
	killed := map[*runRecord]int{}
	for _, d := range c.podDeletions {
		switch {
		case d.namespace == c.soakNS && d.app == c.victimApp:
			var owner *runRecord
			for _, r := range runsOf("pod") {
				end := r.end()
				if d.at.Before(r.firstSeen) || (!end.IsZero() && d.at.After(end.Add(soakSlack))) {
					continue
				}
				if maxTargetsOf(r) > killed[r] {
					owner = r
					break
				}
			}
			if owner == nil {
				add("pod %s/%s was killed at %s beyond every pod-kill run's maxTargets, or outside any run", d.namespace, d.name, d.at.Format(time.StampMilli))
				continue
			}
			killed[owner]++
		case d.namespace == c.soakNS && d.app == c.tenantApp:
			covered := false
			for _, s := range drainSpans {
				if s.target == d.node && !d.at.Before(s.from) && (s.to.IsZero() || !d.at.After(s.to.Add(soakSlack))) {
					covered = true
				}
			}
			if !covered {
				add("pod %s/%s on node %s was deleted at %s while no drain held its node", d.namespace, d.name, d.node, d.at.Format(time.StampMilli))
			}
		default:
			add("pod %s/%s, which no soak run targets, was deleted at %s", d.namespace, d.name, d.at.Format(time.StampMilli))
		}
	}

	// Prometheus outages: runs under onProbeError Abort that were observing
	// revert while Prometheus is away; runs under Continue go on.
	for _, o := range prom {
		for _, key := range o.observing {
			r := c.runs[key]
			if r == nil || r.deletedBy != "" || r.run == nil {
				continue
			}
			abort := r.run.Status.Abort
			switch o.policy[key] {
			case chaosv1alpha1.ProbeErrorAbort:
				if abort == nil || abort.Reason != chaosv1alpha1.AbortProbeUnavailable {
					// Another abort (the kill switch) may come first.
					if abort == nil {
						add("run %s (onProbeError Abort) was observing when Prometheus stopped for %s and was not aborted: %s", key, o.to.Sub(o.from).Round(time.Millisecond), r.run.Status.Message)
					}
					continue
				}
				if closed := c.closedDuring(r, o); !closed {
					add("run %s (onProbeError Abort) was aborted but its fault was not reverted while Prometheus was away", key)
				}
			case chaosv1alpha1.ProbeErrorContinue:
				if abort != nil && abort.Reason == chaosv1alpha1.AbortProbeUnavailable {
					add("run %s (onProbeError Continue) was aborted for probe errors: %s", key, abort.Message)
				}
			}
		}
	}
	return v
}

// closedDuring reports whether r's VirtualService fault ended before the
// Prometheus outage o did.
func (c *soakChecker) closedDuring(r *runRecord, o promOutage) bool {
	for _, s := range c.vsSpans {
		if c.vsExperiment[s.target] != r.experiment || s.from.After(o.from) {
			continue
		}
		if !s.to.IsZero() && !s.to.Before(o.from) && !s.to.After(o.to.Add(soakSlack)) {
			return true
		}
	}
	return false
}

func maxTargetsOf(r *runRecord) int {
	if r.run == nil || r.run.Status.Experiment == nil || r.run.Status.Experiment.Target.MaxTargets == nil {
		return 1
	}
	return int(*r.run.Status.Experiment.Target.MaxTargets)
}

// leftovers lists what carries a run's marks once every run is gone, and
// every VirtualService not byte-equal to its original and every node left
// cordoned.
func (c *soakChecker) leftovers(ctx context.Context) ([]string, error) {
	var out []string
	check := func(gvr schema.GroupVersionResource, ns string) error {
		l, err := c.dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, u := range l.Items {
			where := strings.TrimPrefix(u.GetNamespace()+"/"+u.GetName(), "/")
			for k := range u.GetAnnotations() {
				if strings.HasPrefix(k, "chaos.faultline.dev/") {
					out = append(out, fmt.Sprintf("%s %s has annotation %s", gvr.Resource, where, k))
				}
			}
			if _, ok := u.GetLabels()[chaosv1alpha1.InjectedLabel]; ok {
				out = append(out, fmt.Sprintf("%s %s has label %s", gvr.Resource, where, chaosv1alpha1.InjectedLabel))
			}
			for _, f := range u.GetFinalizers() {
				if strings.Contains(f, "faultline") {
					out = append(out, fmt.Sprintf("%s %s has finalizer %s", gvr.Resource, where, f))
				}
			}
			switch gvr {
			case harness.VirtualServicesGVR:
				spec, _ := json.Marshal(u.Object["spec"])
				c.mu.Lock()
				orig, ok := c.vsOriginal[u.GetName()]
				c.mu.Unlock()
				if ok && string(spec) != string(orig) {
					out = append(out, fmt.Sprintf("VirtualService %s differs from its original", where))
				}
			case harness.NodesGVR:
				if cordoned, _, _ := unstructured.NestedBool(u.Object, "spec", "unschedulable"); cordoned {
					out = append(out, fmt.Sprintf("node %s is cordoned", where))
				}
			}
		}
		return nil
	}
	for _, s := range []struct {
		gvr schema.GroupVersionResource
		ns  string
	}{
		{harness.VirtualServicesGVR, harness.ShopNamespace}, {harness.NodesGVR, ""}, {harness.PodsGVR, c.soakNS}, {harness.PodsGVR, harness.ShopNamespace},
		{harness.ExperimentRunsGVR, c.soakNS}, {harness.ExperimentRunsGVR, harness.ShopNamespace},
	} {
		if err := check(s.gvr, s.ns); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// promOutage is one stop of Prometheus, with the runs that were observing
// when it began and their onProbeError policies.
type promOutage struct {
	from, to  time.Time
	observing []string
	policy    map[string]chaosv1alpha1.ProbeErrorPolicy
}
