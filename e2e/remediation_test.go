//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"html"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
	"github.com/faultline-dev/faultline/experiments/report"
)

// podArrivals is an independent watch on shop's pods of one app: when each
// new pod was first seen, by this test's own clock.
type podArrivals struct {
	mu   sync.Mutex
	seen map[types.UID]time.Time
}

func (a *podArrivals) at(uid types.UID) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.seen[uid]
	return t, ok
}

// watchPodArrivals watches app's pods in shop until the test ends.
func watchPodArrivals(t *testing.T, app string) *podArrivals {
	t.Helper()
	c, err := client.NewWithWatch(tb.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx, &corev1.PodList{}, client.InNamespace(harness.ShopNamespace), client.MatchingLabels{"app": app})
	if err != nil {
		cancel()
		t.Fatalf("watching %s pods: %v", app, err)
	}
	a := &podArrivals{seen: map[types.UID]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added {
				continue
			}
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				a.mu.Lock()
				if _, ok := a.seen[pod.UID]; !ok {
					a.seen[pod.UID] = time.Now()
				}
				a.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return a
}

// TestPodKillRemediationStartsWithTheReplacement kills a checkout pod and
// checks that remediationStartedAt is the creation of the ReplicaSet's
// replacement, as the API dates it, between the injection and the recovery.
func TestPodKillRemediationStartsWithTheReplacement(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	before := podUIDs(t)
	arrivals := watchPodArrivals(t, "checkout")

	exp := tb.PodKillExperiment("e2e-remediation")
	exp.Spec.Objectives.RemediateWithin = &metav1.Duration{Duration: 10 * time.Second}
	run := tb.RunExperiment(t, exp, 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}

	// The replacement: the first checkout pod created that was not there before.
	var replacement *corev1.Pod
	for uid, p := range podUIDs(t) {
		if _, ok := before[uid]; ok {
			continue
		}
		if replacement == nil || p.CreationTimestamp.Before(&replacement.CreationTimestamp) {
			replacement = &p
		}
	}
	if replacement == nil {
		t.Fatal("no checkout pod replaced the killed one")
	}

	tl := run.Status.Timeline
	if tl.InjectedAt == nil || tl.RecoveredAt == nil || tl.RemediationStartedAt == nil {
		t.Fatalf("timeline lacks injectedAt, recoveredAt or remediationStartedAt: %+v (remediation %+v)", tl, run.Status.Remediation)
	}
	started := tl.RemediationStartedAt.Time
	if started.Before(tl.InjectedAt.Time) || started.After(tl.RecoveredAt.Time) {
		t.Errorf("remediationStartedAt +%s is not between injectedAt and recoveredAt (+%s)",
			started.Sub(tl.InjectedAt.Time), tl.RecoveredAt.Sub(tl.InjectedAt.Time))
	}
	// The truth from the API: the replacement's creationTimestamp, in whole
	// seconds, and never before the kill it answers.
	truth := replacement.CreationTimestamp.Time
	if truth.Before(tl.InjectedAt.Time) {
		truth = tl.InjectedAt.Time
	}
	diff := started.Sub(truth)
	arrival, seen := arrivals.at(replacement.UID)
	t.Logf("remediation started +%s after the kill; replacement %s created at %s (truth +%s, diff %s); this test's watch saw it at +%s (%v)",
		started.Sub(tl.InjectedAt.Time).Round(time.Millisecond), replacement.Name, replacement.CreationTimestamp.Format(time.RFC3339),
		truth.Sub(tl.InjectedAt.Time).Round(time.Millisecond), diff.Round(time.Millisecond),
		arrival.Sub(tl.InjectedAt.Time).Round(time.Millisecond), seen)
	if diff < -250*time.Millisecond || diff > 250*time.Millisecond {
		t.Errorf("remediationStartedAt is %s from the replacement's creationTimestamp (clamped to the kill), want within 0.25s", diff)
	}
	if seen && started.After(arrival.Add(250*time.Millisecond)) {
		t.Errorf("remediationStartedAt is %s after this test's watch saw the replacement: it cannot be later than the pod's arrival", started.Sub(arrival))
	}
	if r := run.Status.Remediation; r == nil || r.Rule != "default for podKill" || !strings.Contains(r.StartedBy, "created pod "+replacement.Name) {
		t.Errorf("remediation = %+v, want the default for podKill naming pod %s", r, replacement.Name)
	}
	res := run.Status.Result
	if res == nil || res.TimeToRemediate == nil {
		t.Fatalf("no timeToRemediate: %+v", res)
	}
	for _, o := range res.Objectives {
		if o.Name == "remediateWithin" && o.Status != chaosv1alpha1.ObjectiveMet {
			t.Errorf("remediateWithin %s, want Met: %+v", o.Status, o)
		}
	}
	for _, f := range report.Formats {
		var buf bytes.Buffer
		if err := report.Render(&buf, f, run); err != nil {
			t.Fatal(err)
		}
		// The HTML report escapes "+" and quotes, the Markdown report
		// backslash-escapes punctuation; read each as its reader would.
		if out := html.UnescapeString(markdownEscape.ReplaceAllString(buf.String(), "$1")); !strings.Contains(out, "remediation started at +") || !strings.Contains(out, replacement.Name) {
			t.Errorf("the %s report does not state when remediation started and by which pod:\n%s", f, out)
		}
	}
}
