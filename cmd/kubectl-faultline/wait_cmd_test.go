package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// cluster is a namespace of the envtest API server the plugin reaches
// through a kubeconfig file, as a pipeline does; the test plays the
// operator and writes the runs' status.
type cluster struct {
	t          *testing.T
	client     client.Client
	namespace  string
	kubeconfig string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := needAPIServer(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gate-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, apiServer.kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, client: c, namespace: ns.Name, kubeconfig: kubeconfig}
}

// createRun creates a run as the schedule would, with status st.
func (c *cluster) createRun(name string, st chaosv1alpha1.ExperimentRunStatus) *chaosv1alpha1.ExperimentRun {
	c.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.namespace, Name: name},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
	}
	if err := c.client.Create(c.t.Context(), run); err != nil {
		c.t.Fatal(err)
	}
	c.operate(name, st)
	return run
}

// operate plays the operator: it writes st as the run's status.
func (c *cluster) operate(name string, st chaosv1alpha1.ExperimentRunStatus) {
	c.t.Helper()
	var run chaosv1alpha1.ExperimentRun
	if err := c.client.Get(c.t.Context(), client.ObjectKey{Namespace: c.namespace, Name: name}, &run); err != nil {
		c.t.Fatal(err)
	}
	run.Status = st
	if err := c.client.Status().Update(c.t.Context(), &run); err != nil {
		c.t.Fatalf("writing status %s: %v", st.Phase, err)
	}
}

// plugin is one invocation of the plugin in the background.
type plugin struct {
	t              *testing.T
	stdout, stderr *syncBuffer
	interrupts     chan os.Signal
	done           chan int
}

// start runs the plugin with args against the cluster's namespace.
func (c *cluster) start(args ...string) *plugin {
	return c.startWith(nil, args...)
}

// startWith is start with the client the plugin connects with replaced by
// wrap(client), for a test to break the connection in a known way.
func (c *cluster) startWith(wrap func(client.WithWatch) client.WithWatch, args ...string) *plugin {
	p := &plugin{t: c.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, interrupts: make(chan os.Signal, 1), done: make(chan int, 1)}
	a := newApp(p.stdout, p.stderr, p.interrupts)
	if wrap != nil {
		cfg, err := clientcmd.RESTConfigFromKubeConfig(apiServer.kubeconfig)
		if err != nil {
			c.t.Fatal(err)
		}
		scheme := runtime.NewScheme()
		if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
			c.t.Fatal(err)
		}
		real, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		if err != nil {
			c.t.Fatal(err)
		}
		a.connect = func() (client.WithWatch, string, error) { return wrap(real), c.namespace, nil }
	}
	if wrap == nil {
		args = append(args, "--kubeconfig", c.kubeconfig, "-n", c.namespace)
	}
	go func() { p.done <- a.execute(c.t.Context(), args) }()
	return p
}

// exitCode waits for the plugin to end.
func (p *plugin) exitCode() int {
	p.t.Helper()
	select {
	case code := <-p.done:
		return code
	case <-time.After(30 * time.Second):
		p.t.Fatalf("the plugin did not finish\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		return -1
	}
}

// await waits until out says want, so the test changes the run only once
// the plugin has read it.
func (p *plugin) await(out *syncBuffer, want string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the plugin never printed %q\nstdout:\n%s\nstderr:\n%s", want, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	baseline  = chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline, Message: "verifying the steady state before touching anything"}
	observing = chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Message: "fault injected into 1 target(s); observing"}
)

func TestWaitForARunItDidNotCreate(t *testing.T) {
	tests := map[string]struct {
		verdict chaosv1alpha1.Verdict
		want    int
	}{
		"a run that passes exits 0":        {chaosv1alpha1.VerdictPassed, exitPassed},
		"a run that fails exits 1":         {chaosv1alpha1.VerdictFailed, exitFailed},
		"a run that is aborted exits 2":    {chaosv1alpha1.VerdictAborted, exitAborted},
		"an inconclusive run exits 3":      {chaosv1alpha1.VerdictInconclusive, exitInconclusive},
		"a run that ends in error exits 4": {chaosv1alpha1.VerdictError, exitError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			c.createRun("scheduled", baseline)
			p := c.start("wait", "scheduled", "--timeout", "1m")
			p.await(p.stderr, "Baseline    verifying")
			c.operate("scheduled", observing)
			p.await(p.stderr, "Observing   fault injected")
			c.operate("scheduled", completed(tc.verdict, "the end"))

			if code := p.exitCode(); code != tc.want {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tc.want, p.stderr.String())
			}
			if want := "Completed   " + string(tc.verdict) + ": the end"; !strings.Contains(p.stderr.String(), want) {
				t.Errorf("progress does not end with %q:\n%s", want, p.stderr.String())
			}
		})
	}
}

func TestWaitForAFinishedRunReturnsAtOnce(t *testing.T) {
	c := newCluster(t)
	c.createRun("yesterday", completed(chaosv1alpha1.VerdictFailed, "missed recoverWithin"))
	var watches atomic.Int32
	countWatches := func(real client.WithWatch) client.WithWatch {
		return interceptor.NewClient(real, interceptor.Funcs{
			Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
				watches.Add(1)
				return c.Watch(ctx, list, opts...)
			},
		})
	}
	p := c.startWith(countWatches, "wait", "yesterday", "--timeout", "0")
	if code := p.exitCode(); code != exitFailed {
		t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, exitFailed, p.stderr.String())
	}
	if n := watches.Load(); n != 0 {
		t.Errorf("the plugin started %d watch(es) of a run that already had its verdict, want none", n)
	}
}

func TestWaitResumesADroppedWatch(t *testing.T) {
	c := newCluster(t)
	c.createRun("flaky-network", baseline)
	// The first watches end at once, as through a proxy that drops idle
	// connections; the plugin must watch again and still see the verdict.
	var watches atomic.Int32
	dropFirstWatches := func(real client.WithWatch) client.WithWatch {
		return interceptor.NewClient(real, interceptor.Funcs{
			Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
				if watches.Add(1) <= 2 {
					return watch.NewEmptyWatch(), nil
				}
				return c.Watch(ctx, list, opts...)
			},
		})
	}
	p := c.startWith(dropFirstWatches, "wait", "flaky-network", "--timeout", "1m")
	p.await(p.stderr, "Baseline")
	// The run changes only once the plugin watches again after the drops.
	deadline := time.Now().Add(30 * time.Second)
	for watches.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin watched %d time(s) and gave up after the watches were dropped\nstderr:\n%s", watches.Load(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.operate("flaky-network", observing)
	c.operate("flaky-network", completed(chaosv1alpha1.VerdictPassed, "recovered"))
	if code := p.exitCode(); code != exitPassed {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr.String())
	}
}

func TestWaitEndsWithoutAVerdict(t *testing.T) {
	tests := map[string]struct {
		create    bool
		args      []string
		interrupt bool
		want      int
		wantSaid  string
	}{
		"a run that does not exist exits 6 naming the namespace": {
			args: []string{"wait", "no-such-run"}, want: exitUnusable, wantSaid: `run "no-such-run" not found in namespace "%s"`,
		},
		"a timeout exits 5 and the run goes on": {
			create: true, args: []string{"wait", "long", "--timeout", "300ms"}, want: exitTimedOut, wantSaid: "timed out after 300ms waiting for the verdict of %s/long (phase Observing); the run goes on",
		},
		"an interrupt stops waiting and leaves the run alone": {
			create: true, args: []string{"wait", "long", "--timeout", "1m"}, interrupt: true, want: exitInterrupted, wantSaid: "The run %s/long goes on",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			var before chaosv1alpha1.ExperimentRun
			if tc.create {
				run := c.createRun("long", observing)
				if err := c.client.Get(t.Context(), client.ObjectKeyFromObject(run), &before); err != nil {
					t.Fatal(err)
				}
			}
			p := c.start(tc.args...)
			if tc.interrupt {
				p.await(p.stderr, "Observing")
				p.interrupts <- os.Interrupt
			}
			if code := p.exitCode(); code != tc.want {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tc.want, p.stderr.String())
			}
			want := tc.wantSaid
			if strings.Contains(want, "%s") {
				want = strings.ReplaceAll(want, "%s", c.namespace)
			}
			if !strings.Contains(p.stderr.String(), want) {
				t.Errorf("stderr does not say %q:\n%s", want, p.stderr.String())
			}
			if tc.create {
				var after chaosv1alpha1.ExperimentRun
				if err := c.client.Get(t.Context(), client.ObjectKeyFromObject(&before), &after); err != nil {
					t.Fatal(err)
				}
				if after.ResourceVersion != before.ResourceVersion {
					t.Errorf("the run was changed (resourceVersion %s, then %s); waiting must leave it alone", before.ResourceVersion, after.ResourceVersion)
				}
			}
		})
	}
}

func TestWaitReportsARunDeletedWhileWaiting(t *testing.T) {
	c := newCluster(t)
	run := c.createRun("doomed", observing)
	p := c.start("wait", "doomed", "--timeout", "1m")
	p.await(p.stderr, "Observing")
	if err := c.client.Delete(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(); code != exitUnusable {
		t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, exitUnusable, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "was deleted before its verdict") {
		t.Errorf("stderr does not say the run was deleted:\n%s", p.stderr.String())
	}
}
