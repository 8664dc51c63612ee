package experimentrun

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// finishedRun is a completed run of experiment in namespace with the given
// time to detect and recover.
func finishedRun(namespace, experiment, name string, detect, recover time.Duration) *chaosv1alpha1.ExperimentRun {
	return &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(namespace + "/" + name)},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
		Status: chaosv1alpha1.ExperimentRunStatus{
			Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed,
			Result: &chaosv1alpha1.RunResult{
				TimeToDetect:  &metav1.Duration{Duration: detect},
				TimeToRecover: &metav1.Duration{Duration: recover},
			},
		},
	}
}

// injectedRun is a run of experiment whose pod kill is applied to one target.
func injectedRun(namespace, experiment, name string) *chaosv1alpha1.ExperimentRun {
	at := metav1.NewMicroTime(time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC))
	return &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(namespace + "/" + name)},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
		Status: chaosv1alpha1.ExperimentRunStatus{
			Phase:      chaosv1alpha1.PhaseObserving,
			Experiment: &chaosv1alpha1.ExperimentSpec{Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}}},
			Targets: []chaosv1alpha1.TargetStatus{
				{Kind: chaosv1alpha1.TargetPod, Namespace: namespace, Name: "web-0", Phase: chaosv1alpha1.TargetInjected, InjectedAt: &at},
			},
		},
	}
}

func TestFiguresAreLabelledByExperimentAndCountedOnce(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	shopRun := finishedRun("shop", "checkout-pod-kill", "checkout-pod-kill-1", 2*time.Second, 7*time.Second)
	m.observeFinished(shopRun)
	m.observeFinished(shopRun) // reconciled again after it finished
	m.observeFinished(finishedRun("payments", "ledger-drain", "ledger-drain-1", 40*time.Second, 90*time.Second))

	if got := testutil.CollectAndCount(m.timeToDetect); got != 2 {
		t.Errorf("time-to-detect series = %d, want one per Experiment (2)", got)
	}
	want := `# HELP faultline_runs_total Finished experiment runs, by verdict.
# TYPE faultline_runs_total counter
faultline_runs_total{verdict="Aborted"} 0
faultline_runs_total{verdict="Error"} 0
faultline_runs_total{verdict="Failed"} 0
faultline_runs_total{verdict="Inconclusive"} 0
faultline_runs_total{verdict="Passed"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "faultline_runs_total"); err != nil {
		t.Error(err)
	}
	var series []string
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "faultline_time_to_recover_seconds" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			series = append(series, labels["namespace"]+"/"+labels["experiment"])
			if labels["namespace"] == "shop" && (metric.GetHistogram().GetSampleCount() != 1 || metric.GetHistogram().GetSampleSum() != 7) {
				t.Errorf("shop/checkout-pod-kill time to recover = count %d sum %g, want one run of 7s",
					metric.GetHistogram().GetSampleCount(), metric.GetHistogram().GetSampleSum())
			}
		}
	}
	slices.Sort(series)
	if want := []string{"payments/ledger-drain", "shop/checkout-pod-kill"}; !slices.Equal(series, want) {
		t.Errorf("time-to-recover series = %q, want one per namespace/experiment %q", series, want)
	}
}

func TestFaultActiveFollowsTheTargets(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	run := injectedRun("shop", "checkout-pod-kill", "checkout-pod-kill-1")

	m.observeFault(run)
	want := `# HELP faultline_fault_active 1 while a run's fault is applied and not reverted; absent otherwise.
# TYPE faultline_fault_active gauge
faultline_fault_active{experiment="checkout-pod-kill",kind="podKill",namespace="shop",run="checkout-pod-kill-1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "faultline_fault_active"); err != nil {
		t.Errorf("while injected: %v", err)
	}

	reverted := run.DeepCopy()
	now := metav1.NewMicroTime(run.Status.Targets[0].InjectedAt.Add(5 * time.Second))
	reverted.Status.Targets[0].Phase, reverted.Status.Targets[0].RevertedAt = chaosv1alpha1.TargetReverted, &now
	reverted.Status.Phase = chaosv1alpha1.PhaseRecovering
	m.observeFault(reverted)
	if got := testutil.CollectAndCount(m.faultActive); got != 0 {
		t.Errorf("fault_active series after revert = %d, want none", got)
	}

	// A run deleted while injected (its finalizer removed by hand) leaves
	// no series behind.
	m.observeFault(run)
	m.forgetRun(types.NamespacedName{Namespace: run.Namespace, Name: run.Name})
	if got := testutil.CollectAndCount(m.faultActive); got != 0 {
		t.Errorf("fault_active series after the run is gone = %d, want none", got)
	}
}

func TestPruneDeletesTheSeriesOfDeletedExperiments(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	kept := finishedRun("shop", "checkout-pod-kill", "checkout-pod-kill-1", 2*time.Second, 7*time.Second)
	deleted := finishedRun("shop", "old-experiment", "old-experiment-1", time.Second, 3*time.Second)
	active := injectedRun("shop", "old-experiment", "old-experiment-2")
	m.observeFinished(kept)
	m.observeFinished(deleted)
	m.observeFault(active)

	m.prune([]chaosv1alpha1.ExperimentRun{*kept}, map[types.NamespacedName]struct{}{{Namespace: "shop", Name: "checkout-pod-kill"}: {}})

	for name, h := range map[string]*prometheus.HistogramVec{"detect": m.timeToDetect, "recover": m.timeToRecover} {
		if got := testutil.CollectAndCount(h); got != 1 {
			t.Errorf("time-to-%s series after prune = %d, want only the kept Experiment's", name, got)
		}
	}
	if got := testutil.CollectAndCount(m.faultActive); got != 0 {
		t.Errorf("fault_active series of a gone run = %d, want none", got)
	}
	if _, ok := m.counted[deleted.UID]; ok || len(m.counted) != 1 {
		t.Errorf("counted = %v, want only the stored run", m.counted)
	}
	if len(m.experiments) != 1 {
		t.Errorf("experiments remembered = %v, want only the kept one", m.experiments)
	}
}
