package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/report"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness runs the plugin against a fake API server.
type harness struct {
	t              *testing.T
	client         client.WithWatch
	app            *app
	stdout, stderr *syncBuffer
	interrupts     chan os.Signal
	// watching receives each time the plugin starts a watch, so a test can
	// change the run only once the plugin is listening.
	watching chan struct{}
}

type harnessOption func(*fake.ClientBuilder, *interceptor.Funcs)

// forbidWatch makes every watch fail as it does for a user without the
// watch verb, so the plugin has to poll.
func forbidWatch() harnessOption {
	return func(_ *fake.ClientBuilder, f *interceptor.Funcs) {
		f.Watch = func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
			return nil, apierrors.NewForbidden(schema.GroupResource{Group: "chaos.faultline.dev", Resource: "experimentruns"}, "", nil)
		}
	}
}

// forbidListingRuns makes listing runs fail as it does for a pipeline
// identity that may only create and get them.
func forbidListingRuns() harnessOption {
	return func(_ *fake.ClientBuilder, f *interceptor.Funcs) {
		f.List = func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, runs := list.(*chaosv1alpha1.ExperimentRunList); runs {
				return apierrors.NewForbidden(schema.GroupResource{Group: "chaos.faultline.dev", Resource: "experimentruns"}, "", nil)
			}
			return c.List(ctx, list, opts...)
		}
	}
}

func newHarness(t *testing.T, objs []client.Object, opts ...harnessOption) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, interrupts: make(chan os.Signal, 2), watching: make(chan struct{}, 100)}
	funcs := interceptor.Funcs{
		Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
			w, err := c.Watch(ctx, list, opts...)
			if err == nil {
				h.watching <- struct{}{}
			}
			return w, err
		},
	}
	// The plugin follows a run by listing and watching it by name, as the
	// API server lets it; the fake client needs an index for that.
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&chaosv1alpha1.ExperimentRun{}).
		WithIndex(&chaosv1alpha1.ExperimentRun{}, "metadata.name", func(o client.Object) []string { return []string{o.GetName()} })
	for _, o := range opts {
		o(b, &funcs)
	}
	h.client = b.WithInterceptorFuncs(funcs).Build()
	h.app = newApp(h.stdout, h.stderr, h.interrupts)
	h.app.connect = func() (client.WithWatch, string, error) { return h.client, "shop", nil }
	h.app.now = func() time.Time { return time.Date(2026, 3, 3, 15, 0, 0, 0, time.UTC) }
	h.app.poll = 10 * time.Millisecond
	return h
}

func (h *harness) execute(args ...string) int {
	return h.app.execute(h.t.Context(), args)
}

// start runs the command in the background and returns its exit code channel.
func (h *harness) start(args ...string) <-chan int {
	done := make(chan int, 1)
	go func() { done <- h.execute(args...) }()
	return done
}

func (h *harness) exitCode(done <-chan int) int {
	h.t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(10 * time.Second):
		h.t.Fatalf("the command did not finish\nstderr:\n%s", h.stderr.String())
		return -1
	}
}

// awaitWatch waits until the plugin watches the run.
func (h *harness) awaitWatch() {
	h.t.Helper()
	select {
	case <-h.watching:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("the plugin never started watching\nstderr:\n%s", h.stderr.String())
	}
}

// awaitStderr waits until the plugin has written want to stderr.
func (h *harness) awaitStderr(want string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.stderr.String(), want) {
		if time.Now().After(deadline) {
			h.t.Fatalf("stderr never said %q:\n%s", want, h.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// theRun waits for the one run the plugin creates and returns it.
func (h *harness) theRun() *chaosv1alpha1.ExperimentRun {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var list chaosv1alpha1.ExperimentRunList
		if err := h.client.List(h.t.Context(), &list); err != nil {
			h.t.Fatal(err)
		}
		if len(list.Items) == 1 {
			return &list.Items[0]
		}
		if len(list.Items) > 1 {
			h.t.Fatalf("%d runs created, want one", len(list.Items))
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatal("no run was created")
	return nil
}

// operate plays the operator: it writes st as the run's status.
func (h *harness) operate(name string, st chaosv1alpha1.ExperimentRunStatus) {
	h.t.Helper()
	var run chaosv1alpha1.ExperimentRun
	if err := h.client.Get(h.t.Context(), client.ObjectKey{Namespace: "shop", Name: name}, &run); err != nil {
		h.t.Fatal(err)
	}
	run.Status = st
	if err := h.client.Status().Update(h.t.Context(), &run); err != nil {
		h.t.Fatal(err)
	}
}

func experiment() *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-pod-kill"}}
}

func micro(t time.Time) *metav1.MicroTime { m := metav1.NewMicroTime(t); return &m }

// completed is the final status of a run with verdict v.
func completed(v chaosv1alpha1.Verdict, message string) chaosv1alpha1.ExperimentRunStatus {
	t0 := time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
	st := chaosv1alpha1.ExperimentRunStatus{
		Phase:   chaosv1alpha1.PhaseCompleted,
		Verdict: v,
		Message: message,
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:  micro(t0),
			InjectedAt: micro(t0.Add(30 * time.Second)),
			FinishedAt: micro(t0.Add(90 * time.Second)),
		},
	}
	if v == chaosv1alpha1.VerdictAborted {
		st.Abort = &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortManual, Message: message}
	}
	if v == chaosv1alpha1.VerdictPassed {
		st.Timeline.RecoveredAt = micro(t0.Add(75 * time.Second))
		st.Result = &chaosv1alpha1.RunResult{
			TimeToRecover: &metav1.Duration{Duration: 45*time.Second + 3*time.Millisecond},
			Objectives: []chaosv1alpha1.ObjectiveResult{{Name: "recoverWithin", Target: metav1.Duration{Duration: 2 * time.Minute},
				Measured: &metav1.Duration{Duration: 45*time.Second + 3*time.Millisecond}, Status: chaosv1alpha1.ObjectiveMet}},
		}
	}
	return st
}

func TestVerdictExitCodes(t *testing.T) {
	tests := map[string]struct {
		verdict chaosv1alpha1.Verdict
		want    int
	}{
		"passed exits 0":                       {chaosv1alpha1.VerdictPassed, 0},
		"failed exits 1":                       {chaosv1alpha1.VerdictFailed, 1},
		"aborted exits 2":                      {chaosv1alpha1.VerdictAborted, 2},
		"inconclusive exits 3":                 {chaosv1alpha1.VerdictInconclusive, 3},
		"error exits 4":                        {chaosv1alpha1.VerdictError, 4},
		"a verdict unknown to the plugin is 4": {chaosv1alpha1.Verdict("Flaky"), 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := verdictExitCode(tc.verdict); got != tc.want {
				t.Errorf("verdictExitCode(%q) = %d, want %d", tc.verdict, got, tc.want)
			}
		})
	}
}

func TestNewExperimentRun(t *testing.T) {
	tests := map[string]struct {
		experiment string
		dryRun     bool
		wantLabel  bool
	}{
		"a run is named after and labelled with its experiment": {experiment: "checkout-pod-kill", wantLabel: true},
		"a dry run says so in its spec":                         {experiment: "checkout-pod-kill", dryRun: true, wantLabel: true},
		"a name too long for a label leaves the label off":      {experiment: strings.Repeat("a", 70), wantLabel: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			run := newExperimentRun("shop", tc.experiment, tc.dryRun)
			if run.Namespace != "shop" || run.Name != "" || run.GenerateName != tc.experiment+"-" {
				t.Errorf("namespace/name/generateName = %q/%q/%q, want shop, empty, %q", run.Namespace, run.Name, run.GenerateName, tc.experiment+"-")
			}
			if run.Spec.ExperimentRef.Name != tc.experiment || run.Spec.DryRun != tc.dryRun {
				t.Errorf("spec = %+v, want experimentRef %q and dryRun %v", run.Spec, tc.experiment, tc.dryRun)
			}
			label, ok := run.Labels[chaosv1alpha1.ExperimentLabel]
			if ok != tc.wantLabel || (ok && label != tc.experiment) {
				t.Errorf("label %s = %q (set: %v), want set: %v", chaosv1alpha1.ExperimentLabel, label, ok, tc.wantLabel)
			}
		})
	}
}

func TestRunWithoutWaitPrintsTheName(t *testing.T) {
	h := newHarness(t, []client.Object{experiment()})
	if code := h.execute("run", "checkout-pod-kill", "--dry-run"); code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr: %s", code, h.stderr.String())
	}
	run := h.theRun()
	if got := strings.TrimSpace(h.stdout.String()); got != run.Name {
		t.Errorf("stdout = %q, want the run's name %q", got, run.Name)
	}
	if !strings.HasPrefix(run.Name, "checkout-pod-kill-") || !run.Spec.DryRun || run.Labels[chaosv1alpha1.ExperimentLabel] != "checkout-pod-kill" {
		t.Errorf("created run = %s %+v %v, want a labelled dry run of checkout-pod-kill", run.Name, run.Spec, run.Labels)
	}
}

func TestRunRefusesBeforeCreatingAnything(t *testing.T) {
	tests := map[string]struct {
		objects []client.Object
		args    []string
		want    string
	}{
		"an experiment that does not exist": {
			args: []string{"run", "no-such-experiment", "--wait"},
			want: `experiment "no-such-experiment" not found in namespace "shop"`,
		},
		"an unknown output format": {
			objects: []client.Object{experiment()},
			args:    []string{"run", "checkout-pod-kill", "--wait", "-o", "yaml"},
			want:    `unknown output format "yaml"`,
		},
		"no experiment named": {
			objects: []client.Object{experiment()},
			args:    []string{"run"},
			want:    "accepts 1 arg(s), received 0",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.objects)
			if code := h.execute(tc.args...); code != exitUnusable {
				t.Errorf("exit code %d, want %d", code, exitUnusable)
			}
			if !strings.Contains(h.stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to say %q", h.stderr.String(), tc.want)
			}
			var list chaosv1alpha1.ExperimentRunList
			if err := h.client.List(t.Context(), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 0 {
				t.Errorf("%d runs created, want none", len(list.Items))
			}
		})
	}
}

func TestRunWaitExitsWithTheVerdict(t *testing.T) {
	tests := map[string]struct {
		verdict chaosv1alpha1.Verdict
		want    int
	}{
		"a passed run exits 0":        {chaosv1alpha1.VerdictPassed, exitPassed},
		"a failed run exits 1":        {chaosv1alpha1.VerdictFailed, exitFailed},
		"an aborted run exits 2":      {chaosv1alpha1.VerdictAborted, exitAborted},
		"an inconclusive run exits 3": {chaosv1alpha1.VerdictInconclusive, exitInconclusive},
		"a run in error exits 4":      {chaosv1alpha1.VerdictError, exitError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []client.Object{experiment()})
			junitFile := filepath.Join(t.TempDir(), "faultline.xml")
			done := h.start("run", "checkout-pod-kill", "--wait", "-o", "json", "--junit-file", junitFile)
			run := h.theRun()
			h.awaitWatch()
			h.operate(run.Name, chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline, Message: "verifying the steady state before touching anything"})
			h.operate(run.Name, chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Message: "fault injected into 1 target(s); observing"})
			h.operate(run.Name, completed(tc.verdict, "the end"))

			if code := h.exitCode(done); code != tc.want {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tc.want, h.stderr.String())
			}
			// Phases are shown as they happen, in order, with their messages.
			progress := h.stderr.String()
			baseline := strings.Index(progress, "Baseline    verifying the steady state")
			observing := strings.Index(progress, "Observing   fault injected")
			verdict := strings.Index(progress, "Completed   "+string(tc.verdict)+": the end")
			if baseline < 0 || observing < baseline || verdict < observing {
				t.Errorf("progress does not show Baseline, Observing, Completed in order:\n%s", progress)
			}
			var s report.Summary
			if err := json.Unmarshal([]byte(h.stdout.String()), &s); err != nil {
				t.Fatalf("stdout is not the JSON report: %v\n%s", err, h.stdout.String())
			}
			if s.Name != run.Name || s.Verdict != string(tc.verdict) {
				t.Errorf("report of %s with verdict %q, want %s with %q", s.Name, s.Verdict, run.Name, tc.verdict)
			}
			data, err := os.ReadFile(junitFile)
			if err != nil {
				t.Fatalf("JUnit file not written: %v", err)
			}
			var suites struct {
				XMLName xml.Name `xml:"testsuites"`
				Tests   int      `xml:"tests,attr"`
			}
			if err := xml.Unmarshal(data, &suites); err != nil || suites.Tests == 0 {
				t.Errorf("JUnit file is not a report with testcases (%v):\n%s", err, data)
			}
		})
	}
}

func TestRunWaitPollsWhenItMayNotWatch(t *testing.T) {
	h := newHarness(t, []client.Object{experiment()}, forbidWatch())
	done := h.start("run", "checkout-pod-kill", "--wait")
	run := h.theRun()
	// The verdict comes only once the plugin has been refused its watch:
	// a run finished before that is read once, and never watched at all.
	h.awaitStderr("cannot watch")
	h.operate(run.Name, completed(chaosv1alpha1.VerdictPassed, "passed"))
	if code := h.exitCode(done); code != exitPassed {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, h.stderr.String())
	}
	if !strings.Contains(h.stdout.String(), "Verdict       Passed") {
		t.Errorf("stdout is not the text report:\n%s", h.stdout.String())
	}
}

func TestRunWaitFollowsARunItMayOnlyGet(t *testing.T) {
	h := newHarness(t, []client.Object{experiment()}, forbidWatch(), forbidListingRuns())
	done := h.start("run", "checkout-pod-kill", "--wait")
	// Listing is forbidden to the test too: the run's name is the one the
	// plugin says it created.
	waitUntil(t, func() bool { return strings.Contains(h.stderr.String(), " created;") }, h.stderr)
	name := strings.TrimPrefix(strings.Fields(h.stderr.String())[1], "shop/")
	h.operate(name, chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Message: "fault injected into 1 target(s); observing"})
	waitUntil(t, func() bool { return strings.Contains(h.stderr.String(), "Observing   fault injected") }, h.stderr)
	h.operate(name, completed(chaosv1alpha1.VerdictFailed, "missed recoverWithin"))
	if code := h.exitCode(done); code != exitFailed {
		t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, exitFailed, h.stderr.String())
	}
	if !strings.Contains(h.stderr.String(), "Completed   Failed: missed recoverWithin") {
		t.Errorf("progress does not end with the verdict:\n%s", h.stderr.String())
	}
}

// waitUntil polls cond for up to 10 seconds, failing the test with out
// when it never holds.
func waitUntil(t *testing.T, cond func() bool, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunWaitTimesOut(t *testing.T) {
	h := newHarness(t, []client.Object{experiment()})
	done := h.start("run", "checkout-pod-kill", "--wait", "--timeout", "300ms", "-o", "junit")
	run := h.theRun()
	h.awaitWatch()
	h.operate(run.Name, chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Message: "observing"})
	if code := h.exitCode(done); code != exitTimedOut {
		t.Fatalf("exit code %d, want %d", code, exitTimedOut)
	}
	if !strings.Contains(h.stderr.String(), "timed out after 300ms") || !strings.Contains(h.stderr.String(), "the run goes on") {
		t.Errorf("stderr does not explain the timeout:\n%s", h.stderr.String())
	}
	if !strings.Contains(h.stdout.String(), "the run is still in progress (phase Observing)") {
		t.Errorf("stdout is not the JUnit report of the run so far:\n%s", h.stdout.String())
	}
}

func TestInterruptingTheWait(t *testing.T) {
	tests := map[string]struct {
		abortOnInterrupt bool
		wantAnnotation   bool
		want             int
	}{
		"by default stops waiting and leaves the run alone": {want: exitInterrupted},
		"with --abort-on-interrupt asks the operator to abort and waits for it": {
			abortOnInterrupt: true, wantAnnotation: true, want: exitAborted,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []client.Object{experiment()})
			args := []string{"run", "checkout-pod-kill", "--wait"}
			if tc.abortOnInterrupt {
				args = append(args, "--abort-on-interrupt")
			}
			done := h.start(args...)
			run := h.theRun()
			h.awaitWatch()
			h.interrupts <- os.Interrupt

			if tc.abortOnInterrupt {
				// The operator sees the annotation and aborts the run.
				deadline := time.Now().Add(10 * time.Second)
				for {
					var got chaosv1alpha1.ExperimentRun
					if err := h.client.Get(t.Context(), client.ObjectKeyFromObject(run), &got); err != nil {
						t.Fatal(err)
					}
					if got.Annotations[chaosv1alpha1.AbortAnnotation] != "" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the run was never annotated to abort\nstderr:\n%s", h.stderr.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
				h.operate(run.Name, completed(chaosv1alpha1.VerdictAborted, "aborted on request"))
			}

			if code := h.exitCode(done); code != tc.want {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tc.want, h.stderr.String())
			}
			var got chaosv1alpha1.ExperimentRun
			if err := h.client.Get(t.Context(), client.ObjectKeyFromObject(run), &got); err != nil {
				t.Fatal(err)
			}
			value, annotated := got.Annotations[chaosv1alpha1.AbortAnnotation]
			if annotated != tc.wantAnnotation || (annotated && value != string(chaosv1alpha1.AbortManual)) {
				t.Errorf("abort annotation = %q (set: %v), want set: %v with value Manual", value, annotated, tc.wantAnnotation)
			}
			if !tc.abortOnInterrupt && !strings.Contains(h.stderr.String(), "goes on") {
				t.Errorf("stderr does not say the run goes on:\n%s", h.stderr.String())
			}
		})
	}
}

func TestRunWaitReportsADeletedRun(t *testing.T) {
	h := newHarness(t, []client.Object{experiment()})
	done := h.start("run", "checkout-pod-kill", "--wait")
	run := h.theRun()
	h.awaitWatch()
	if err := h.client.Delete(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(done); code != exitUnusable {
		t.Fatalf("exit code %d, want %d", code, exitUnusable)
	}
	if !strings.Contains(h.stderr.String(), "was deleted before its verdict") {
		t.Errorf("stderr does not say the run was deleted:\n%s", h.stderr.String())
	}
}

// storedRun is a run as the operator left it, created at created.
func storedRun(name, experiment string, created time.Time, st chaosv1alpha1.ExperimentRunStatus) *chaosv1alpha1.ExperimentRun {
	return &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
		Status:     st,
	}
}

func TestReport(t *testing.T) {
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	objects := []client.Object{
		storedRun("checkout-pod-kill-old", "checkout-pod-kill", t0, completed(chaosv1alpha1.VerdictFailed, "old")),
		storedRun("checkout-pod-kill-new", "checkout-pod-kill", t0.Add(time.Hour), completed(chaosv1alpha1.VerdictPassed, "new")),
		storedRun("other-newest", "other", t0.Add(2*time.Hour), completed(chaosv1alpha1.VerdictAborted, "other")),
	}
	tests := map[string]struct {
		args     []string
		wantCode int
		want     string // in stdout, or stderr when the command fails
	}{
		"a run named reports that run": {
			args: []string{"report", "checkout-pod-kill-old"}, want: "Run           shop/checkout-pod-kill-old",
		},
		"an experiment reports its newest run": {
			args: []string{"report", "--experiment", "checkout-pod-kill", "-o", "markdown"}, want: "### Faultline run `shop/checkout-pod-kill-new`: Passed",
		},
		"json output is the summary schema": {
			args: []string{"report", "other-newest", "-o", "json"}, want: `"schema": "` + report.SchemaVersion + `"`,
		},
		"html output is one page with the verdict's banner": {
			args: []string{"report", "other-newest", "-o", "html"}, want: `<header class="banner verdict-aborted" id="verdict">`,
		},
		"an experiment without runs is an error": {
			args: []string{"report", "--experiment", "nothing"}, wantCode: exitUnusable, want: `no runs of experiment "nothing"`,
		},
		"a run and an experiment at once is an error": {
			args: []string{"report", "checkout-pod-kill-old", "--experiment", "checkout-pod-kill"}, wantCode: exitUnusable, want: "but not both",
		},
		"neither a run nor an experiment is an error": {
			args: []string{"report"}, wantCode: exitUnusable, want: "name a run, or an Experiment",
		},
		"a run that does not exist is an error": {
			args: []string{"report", "nope"}, wantCode: exitUnusable, want: "not found",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, objects)
			code := h.execute(tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, tc.wantCode, h.stderr.String())
			}
			out := h.stdout.String()
			if tc.wantCode != 0 {
				out = h.stderr.String()
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not contain %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	observing := chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving}
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		run            *chaosv1alpha1.ExperimentRun
		args           []string
		wantAnnotation string // "" for none
	}{
		"an active run is annotated with the reason": {
			run:            storedRun("r", "e", t0, observing),
			args:           []string{"abort", "r", "--reason", "incident in progress"},
			wantAnnotation: "incident in progress",
		},
		"without a reason the abort is recorded as Manual": {
			run:            storedRun("r", "e", t0, observing),
			args:           []string{"abort", "r"},
			wantAnnotation: "Manual",
		},
		"a completed run is left as it is": {
			run:  storedRun("r", "e", t0, completed(chaosv1alpha1.VerdictPassed, "done")),
			args: []string{"abort", "r"},
		},
		"an earlier abort request is kept": {
			run: func() *chaosv1alpha1.ExperimentRun {
				r := storedRun("r", "e", t0, observing)
				r.Annotations = map[string]string{chaosv1alpha1.AbortAnnotation: string(chaosv1alpha1.AbortReplaced)}
				return r
			}(),
			args:           []string{"abort", "r", "--reason", "mine"},
			wantAnnotation: string(chaosv1alpha1.AbortReplaced),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []client.Object{tc.run})
			if code := h.execute(tc.args...); code != 0 {
				t.Fatalf("exit code %d, want 0\nstderr: %s", code, h.stderr.String())
			}
			var got chaosv1alpha1.ExperimentRun
			if err := h.client.Get(t.Context(), client.ObjectKeyFromObject(tc.run), &got); err != nil {
				t.Fatal(err)
			}
			if v := got.Annotations[chaosv1alpha1.AbortAnnotation]; v != tc.wantAnnotation {
				t.Errorf("abort annotation = %q, want %q", v, tc.wantAnnotation)
			}
		})
	}
}

func TestListShowsFullPrecisionFigures(t *testing.T) {
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	aborted := completed(chaosv1alpha1.VerdictAborted, "stop")
	objects := []client.Object{
		storedRun("checkout-pod-kill-b", "checkout-pod-kill", t0.Add(time.Hour), aborted),
		storedRun("checkout-pod-kill-a", "checkout-pod-kill", t0, completed(chaosv1alpha1.VerdictPassed, "ok")),
		storedRun("other-a", "other", t0, chaosv1alpha1.ExperimentRunStatus{}),
	}
	h := newHarness(t, objects)
	if code := h.execute("list", "--experiment", "checkout-pod-kill"); code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
	}
	want := strings.Join([]string{
		"NAME                  EXPERIMENT          PHASE       VERDICT   DETECT   BY       RECOVER   ABORT    AGE",
		"checkout-pod-kill-a   checkout-pod-kill   Completed   Passed    <none>   <none>   45.003s   <none>   3h",
		"checkout-pod-kill-b   checkout-pod-kill   Completed   Aborted   <none>   <none>   <none>    Manual   120m",
		"",
	}, "\n")
	if got := h.stdout.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestApprove(t *testing.T) {
	pending := chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending}
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	approvedBy := func(r *chaosv1alpha1.ExperimentRun, by string) *chaosv1alpha1.ExperimentRun {
		r.Annotations = map[string]string{chaosv1alpha1.ApprovedAnnotation: "true", chaosv1alpha1.ApprovedByAnnotation: by}
		return r
	}
	tests := map[string]struct {
		run          *chaosv1alpha1.ExperimentRun
		wantApproved string // the approved annotation afterwards
		wantBy       string // the approved-by annotation afterwards
		wantSaid     string
	}{
		"a pending run is annotated approved": {
			run:          storedRun("r", "e", t0, pending),
			wantApproved: "true",
		},
		"an approval recorded by the webhook names the approver": {
			run:          approvedBy(storedRun("r", "e", t0, pending), `{"username":"bob","groups":["system:authenticated"]}`),
			wantApproved: "true",
			wantBy:       `{"username":"bob","groups":["system:authenticated"]}`,
			wantSaid:     "already approved (by bob)",
		},
		"an approved run keeps its approver": {
			run:          approvedBy(storedRun("r", "e", t0, pending), "bob"),
			wantApproved: "true",
			wantBy:       "bob",
			wantSaid:     "already approved (by bob)",
		},
		"a completed run is left as it is": {
			run:      storedRun("r", "e", t0, completed(chaosv1alpha1.VerdictPassed, "done")),
			wantSaid: "nothing to approve",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []client.Object{tc.run})
			if code := h.execute("approve", "r"); code != 0 {
				t.Fatalf("exit code %d, want 0\nstderr: %s", code, h.stderr.String())
			}
			var got chaosv1alpha1.ExperimentRun
			if err := h.client.Get(t.Context(), client.ObjectKeyFromObject(tc.run), &got); err != nil {
				t.Fatal(err)
			}
			if v := got.Annotations[chaosv1alpha1.ApprovedAnnotation]; v != tc.wantApproved {
				t.Errorf("approved annotation = %q, want %q", v, tc.wantApproved)
			}
			if v := got.Annotations[chaosv1alpha1.ApprovedByAnnotation]; v != tc.wantBy {
				t.Errorf("approved-by annotation = %q, want %q", v, tc.wantBy)
			}
			if !strings.Contains(h.stderr.String(), tc.wantSaid) {
				t.Errorf("stderr %q does not say %q", h.stderr.String(), tc.wantSaid)
			}
		})
	}
}
