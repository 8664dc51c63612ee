package experimentrun_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// webSLOs is an OpenSLO v1 document of the web service's availability, as
// a team keeps it in a ConfigMap: 99% of requests succeed over 28 days.
const webSLOs = `apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
spec:
  service: web
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  indicator:
    metadata:
      name: web-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: web_requests_failed_total
        total:
          metricSource:
            type: Prometheus
            spec:
              query: web_requests_total
  objectives:
    - displayName: availability
      target: 0.99
`

// sloEnv is an env whose web service keeps its SLO in a ConfigMap, with
// budgetLeft of the 28-day error budget remaining and an error ratio of
// 0.002 outside the kill.
func sloEnv(t *testing.T, budgetLeft float64) *env {
	t.Helper()
	e := newEnv(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web-slos"}, Data: map[string]string{"slos.yaml": webSLOs}}
	if err := e.c.Create(t.Context(), cm); err != nil {
		t.Fatalf("creating the SLO ConfigMap: %v", err)
	}
	e.metric = func(query string, at, killedAt time.Time) (float64, error) {
		switch {
		case strings.Contains(query, "[4w]"): // 28 days, as Prometheus writes them
			return budgetLeft, nil
		case strings.Contains(query, "web_requests_failed_total"):
			return 0.002, nil
		}
		return defaultMetric(query, at, killedAt)
	}
	return e
}

// sloSpec probes the web SLO instead of the success-rate query, and may
// require a share of its error budget left.
func sloSpec(requireBudget string) chaosv1alpha1.ExperimentSpec {
	spec := experimentSpec()
	spec.SteadyState.RequireErrorBudget = requireBudget
	spec.SteadyState.Probes[1] = chaosv1alpha1.Probe{
		Name: "availability",
		SLO: &chaosv1alpha1.SLOProbe{
			SLORef: chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "web-slos", Name: "web-availability"}},
			Window: &metav1.Duration{Duration: 30 * time.Second},
		},
	}
	return spec
}

func TestSLOProbeSamplesTheDerivedErrorRatio(t *testing.T) {
	e := sloEnv(t, 0.8)
	e.createWeb()
	e.createExperiment(sloSpec("50%"))
	run := e.drive(e.createRun("web-pod-kill", false), released)

	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s: %s", run.Status.Verdict, run.Status.Message)
	}
	if len(run.Status.SLOs) != 1 {
		t.Fatalf("status.slos = %+v, want the one SLO the probe references", run.Status.SLOs)
	}
	s := run.Status.SLOs[0]
	if s.Name != "availability" || s.Objective != "0.99" || s.Period == nil || s.Period.Duration != 28*24*time.Hour {
		t.Errorf("derived SLO = %+v, want objective 0.99 over 28d", s)
	}
	if !strings.Contains(s.Query, "web_requests_failed_total") || !strings.Contains(s.Query, "[30s]") {
		t.Errorf("derived query %q does not compute the error ratio over the probe's 30s window", s.Query)
	}
	if s.Condition == nil || s.Condition.Op != chaosv1alpha1.OpLessEqual || s.Condition.Value != "0.01" {
		t.Errorf("derived condition = %+v, want <= 0.01, the error budget", s.Condition)
	}
	if s.ErrorBudgetRemaining != "80.0%" {
		t.Errorf("errorBudgetRemaining = %q, want 80.0%%", s.ErrorBudgetRemaining)
	}
	var ps *chaosv1alpha1.ProbeStatus
	for i := range run.Status.Probes {
		if run.Status.Probes[i].Name == "availability" {
			ps = &run.Status.Probes[i]
		}
	}
	if ps == nil || ps.Samples == 0 || ps.Errors != 0 || ps.Last != probes.FormatValue(0.002) {
		t.Errorf("probe status = %+v, want samples of the error ratio 0.002 and no errors", ps)
	}
	if run.Status.Experiment.SteadyState.Probes[1].SLO == nil || run.Status.Experiment.SteadyState.Probes[1].Prometheus != nil {
		t.Errorf("the run's snapshot was rewritten; it must keep the slo reference as written")
	}
}

func TestTooLittleErrorBudgetEndsTheRunBeforeInjection(t *testing.T) {
	e := sloEnv(t, 0.123)
	e.createWeb()
	e.createExperiment(sloSpec("20%"))
	run := e.drive(e.createRun("web-pod-kill", false), released)

	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive {
		t.Fatalf("verdict %s: %s; want Inconclusive", run.Status.Verdict, run.Status.Message)
	}
	for _, want := range []string{"12.3%", "20%", "web-availability", "nothing was injected"} {
		if !strings.Contains(run.Status.Message, want) {
			t.Errorf("message %q does not say %q", run.Status.Message, want)
		}
	}
	if c := findCondition(run, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonErrorBudgetLow {
		t.Errorf("Completed condition = %+v, want reason %s", c, chaosv1alpha1.ReasonErrorBudgetLow)
	}
	if !e.kill().IsZero() || len(run.Status.Targets) != 0 {
		t.Errorf("a pod was killed or targets selected although the budget was too low")
	}
}

func TestMissingSLOEndsTheRunSayingWhichObject(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	e.createExperiment(sloSpec(""))
	run := e.drive(e.createRun("web-pod-kill", false), released)

	if run.Status.Verdict != chaosv1alpha1.VerdictError {
		t.Fatalf("verdict %s: %s; want Error", run.Status.Verdict, run.Status.Message)
	}
	if !strings.Contains(run.Status.Message, "web-slos") {
		t.Errorf("message %q does not name the missing ConfigMap", run.Status.Message)
	}
	if len(run.Status.SLOs) != 1 || run.Status.SLOs[0].Error == "" {
		t.Errorf("status.slos = %+v, want the failed SLO with its error", run.Status.SLOs)
	}
	if !e.kill().IsZero() {
		t.Errorf("a pod was killed although the SLO could not be read")
	}
}

func findCondition(run *chaosv1alpha1.ExperimentRun, typ string) *metav1.Condition {
	for i := range run.Status.Conditions {
		if run.Status.Conditions[i].Type == typ {
			return &run.Status.Conditions[i]
		}
	}
	return nil
}
