//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// SLO-backed steady state on the testbed: the SLOs a team keeps for reviews
// (a Sloth PrometheusServiceLevel) and ratings (a Pyrra
// ServiceLevelObjective, and the same objective as an OpenSLO document in a
// ConfigMap), each an objective of 99% on istio_requests_total, which the
// testbed's noisy services meet at rest with half their budget to spare
// (0.5% of requests fail). hack/testbed-up.sh installs Sloth's CRD and the
// testbed's mirror of Pyrra's (e2e/testbed/crds).

const (
	// sloObjective is every SLO's objective, in percent.
	sloObjective = 99
	// sloProbeWindow is the slo probes' window: at 300 requests a second
	// the error ratio over it is 0.5% ± 0.1% at rest, far from the 1%
	// budget.
	sloProbeWindow = 20 * time.Second
	// slothSLOName is the SLO of the reviews PrometheusServiceLevel.
	slothSLOName = "requests-availability"
	// ratingsSLOName names ratings' Pyrra object and its OpenSLO document.
	ratingsSLOName = "ratings-availability"
	// openSLOConfigMap and openSLOKey hold ratings' OpenSLO document.
	openSLOConfigMap, openSLOKey = "ratings-slos", "slos.yaml"
)

// istioSelector is the istio_requests_total selector of a shop service,
// with extra matchers such as `response_code=~"5.."`.
func istioSelector(service string, extra ...string) string {
	m := append([]string{fmt.Sprintf("destination_service_namespace=%q", harness.ShopNamespace), fmt.Sprintf("destination_service_name=%q", service)}, extra...)
	return "istio_requests_total{" + strings.Join(m, ",") + "}"
}

// slothReviews is the PrometheusServiceLevel a team following Sloth's
// getting-started guide would write for reviews.
func slothReviews() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sloth.slok.dev/v1",
		"kind":       "PrometheusServiceLevel",
		"metadata":   map[string]any{"name": "reviews", "namespace": harness.ShopNamespace},
		"spec": map[string]any{
			"service": "reviews",
			"labels":  map[string]any{"owner": "shop-team"},
			"slos": []any{map[string]any{
				"name":        slothSLOName,
				"objective":   int64(sloObjective),
				"description": "Reviews answers its requests.",
				"sli": map[string]any{"events": map[string]any{
					"errorQuery": fmt.Sprintf("sum(rate(%s[{{.window}}]))", istioSelector("reviews", `response_code=~"5.."`)),
					"totalQuery": fmt.Sprintf("sum(rate(%s[{{.window}}]))", istioSelector("reviews")),
				}},
				"alerting": map[string]any{"name": "ReviewsHighErrorRate", "pageAlert": map[string]any{"disable": true}},
			}},
		},
	}}
	return u
}

// pyrraRatings is ratings' Pyrra ServiceLevelObjective.
func pyrraRatings() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pyrra.dev/v1alpha1",
		"kind":       "ServiceLevelObjective",
		"metadata":   map[string]any{"name": ratingsSLOName, "namespace": harness.ShopNamespace},
		"spec": map[string]any{
			"target":      strconv.Itoa(sloObjective),
			"window":      "28d",
			"description": "Ratings answers its requests.",
			"indicator": map[string]any{"ratio": map[string]any{
				"errors": map[string]any{"metric": istioSelector("ratings", `response_code=~"5.."`)},
				"total":  map[string]any{"metric": istioSelector("ratings")},
			}},
		},
	}}
}

// openSLORatings is the same objective for ratings as an OpenSLO v1
// document, next to the DataSource it names, in a ConfigMap.
func openSLORatings() *corev1.ConfigMap {
	doc := fmt.Sprintf(`apiVersion: openslo/v1
kind: DataSource
metadata:
  name: testbed-prometheus
spec:
  type: Prometheus
  connectionDetails:
    url: http://%[1]s
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: %[2]s
spec:
  service: ratings
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - displayName: Available
      target: %[3]s
  indicator:
    metadata:
      name: ratings-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            metricSourceRef: testbed-prometheus
            spec:
              query: %[4]s
        total:
          metricSource:
            type: Prometheus
            spec:
              query: %[5]s
`, tb.PrometheusAddr, ratingsSLOName, strconv.FormatFloat(sloObjective/100.0, 'g', -1, 64),
		istioSelector("ratings", `response_code=~"5.."`), istioSelector("ratings"))
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: openSLOConfigMap, Namespace: harness.ShopNamespace},
		Data:       map[string]string{openSLOKey: doc},
	}
}

var (
	slothRef   = chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "reviews", SLO: slothSLOName}}
	pyrraRef   = chaosv1alpha1.SLORef{Pyrra: &chaosv1alpha1.PyrraSLORef{Name: ratingsSLOName}}
	openSLORef = chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: openSLOConfigMap, Key: openSLOKey, Name: ratingsSLOName}}
)

// sloProbe is an slo probe on ref, judged by the SLO's own objective.
func sloProbe(name string, ref chaosv1alpha1.SLORef) chaosv1alpha1.Probe {
	return chaosv1alpha1.Probe{Name: name, SLO: &chaosv1alpha1.SLOProbe{SLORef: ref, Window: &metav1.Duration{Duration: sloProbeWindow}}}
}

// canaryDelay is a fault no probe here notices: 1ms more for the canary
// slice, well inside the latency histogram's 10-25ms bucket.
func canaryDelay() *chaosv1alpha1.IstioFault {
	return &chaosv1alpha1.IstioFault{
		Routes: []string{"primary"},
		Match:  &chaosv1alpha1.IstioMatch{Headers: map[string]string{canaryHeader: "true"}},
		Delay:  &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: time.Millisecond}, Percent: 100},
	}
}

// sloExperiment targets service's VirtualService with fault for hold,
// sampling every second.
func sloExperiment(name, service string, fault *chaosv1alpha1.IstioFault, hold time.Duration, probes ...chaosv1alpha1.Probe) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: harness.ShopNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind: chaosv1alpha1.TargetVirtualService, Names: []string{service},
				Mode: chaosv1alpha1.SelectAll, MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{Istio: fault},
			Duration: &metav1.Duration{Duration: hold},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
				Address: "http://" + tb.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
			}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: harness.ProbeInterval},
				Baseline:        metav1.Duration{Duration: 5 * time.Second},
				Stabilization:   3,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes:          probes,
			},
		},
	}
}

// TestSLOBackedSteadyState creates the SLO objects, then runs the
// independent cases side by side and the burn-rate guard, which fails
// reviews' requests, after them.
func TestSLOBackedSteadyState(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RelaxPolicyForBench(t, 3)
	for _, u := range []*unstructured.Unstructured{slothReviews(), pyrraRatings()} {
		createSLOObject(t, u)
	}
	tb.Create(t, openSLORatings())
	// The slo probes judge the last 20s: earlier tests' faults on reviews
	// and ratings must have left that window.
	waitJudgedServicesQuiet(t, promDuration(sloProbeWindow), 0.993)

	t.Run("side by side", func(t *testing.T) {
		t.Run("slo probes pass and record what they derived", testSLOProbesPass)
		t.Run("too little error budget refuses to inject", testErrorBudgetRefuses)
		t.Run("a relative condition resolves from the baseline", testRelativeCondition)
	})
	t.Run("a burn-rate guard aborts a full outage", testBurnRateGuardAborts)
}

// createSLOObject creates a Sloth or Pyrra object, saying plainly when the
// testbed lacks its CRD.
func createSLOObject(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if err := tb.Client.Create(t.Context(), u.DeepCopy()); err != nil {
		if meta.IsNoMatchError(err) {
			t.Fatalf("the testbed has no CRD for %s %s (hack/testbed-up.sh installs Sloth's and e2e/testbed/crds): %v", u.GetAPIVersion(), u.GetKind(), err)
		}
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tb.Client.Delete(ctx, u.DeepCopy()); err != nil && !harness.IsNotFound(err) {
			t.Errorf("deleting %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	})
}

// testSLOProbesPass runs a harmless fault on reviews judged by the three
// SLOs: the run passes and status.slos shows each query, objective, period
// and remaining budget.
func testSLOProbesPass(t *testing.T) {
	t.Parallel()
	exp := sloExperiment("e2e-slo-probes", "reviews", canaryDelay(), 10*time.Second,
		sloProbe("reviews-sloth", slothRef), sloProbe("ratings-pyrra", pyrraRef), sloProbe("ratings-openslo", openSLORef))
	run := tb.RunExperiment(t, exp, 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)
	for _, s := range run.Status.SLOs {
		t.Logf("slo %s (%s) from %s: objective %s, period %v, budget left %s, query %s, condition %+v",
			s.Name, s.Kind, s.Source, s.Objective, s.Period, s.ErrorBudgetRemaining, s.Query, s.Condition)
	}
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Errorf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}
	want := map[string]struct {
		service, source string
	}{
		"reviews-sloth":   {"reviews", "PrometheusServiceLevel shop/reviews"},
		"ratings-pyrra":   {"ratings", "ServiceLevelObjective shop/" + ratingsSLOName},
		"ratings-openslo": {"ratings", openSLOConfigMap},
	}
	if len(run.Status.SLOs) != len(want) {
		t.Fatalf("status.slos has %d entries, want one per slo probe (%d)", len(run.Status.SLOs), len(want))
	}
	window := "[" + promDuration(sloProbeWindow) + "]"
	for _, s := range run.Status.SLOs {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("status.slos names %q, which is no probe of the Experiment", s.Name)
			continue
		}
		if s.Kind != chaosv1alpha1.ProbeKindSteadyState || s.Error != "" {
			t.Errorf("slo %s: kind %s error %q, want a usable Probe", s.Name, s.Kind, s.Error)
		}
		if !strings.Contains(s.Source, w.source) {
			t.Errorf("slo %s: source %q does not name %q", s.Name, s.Source, w.source)
		}
		if !strings.Contains(s.Query, `destination_service_name="`+w.service+`"`) || !strings.Contains(s.Query, window) || strings.Contains(s.Query, "{{") {
			t.Errorf("slo %s: query %q, want %s's requests over the probe's window %s, no template left", s.Name, s.Query, w.service, window)
		}
		if obj, err := strconv.ParseFloat(s.Objective, 64); err != nil || !harness.Within(obj, sloObjective/100.0, 1e-9) {
			t.Errorf("slo %s: objective %q, want %v", s.Name, s.Objective, sloObjective/100.0)
		}
		if s.Period == nil || s.Period.Duration < 24*time.Hour {
			t.Errorf("slo %s: period %v, want the SLO's (28d, or Sloth's 30d)", s.Name, s.Period)
		}
		if c := s.Condition; c == nil || c.Op != chaosv1alpha1.OpLessEqual || !numberNear(c.Value, 1-sloObjective/100.0) {
			t.Errorf("slo %s: condition %+v, want <= the error budget %v", s.Name, s.Condition, 1-sloObjective/100.0)
		}
		// The services fail 0.5% of requests against a 1% budget: some
		// budget is spent, and never more than was there.
		left, err := parsePercent(s.ErrorBudgetRemaining)
		if err != nil || left >= 100 {
			t.Errorf("slo %s: errorBudgetRemaining %q (%v), want a percentage below 100%%", s.Name, s.ErrorBudgetRemaining, err)
		}
	}
}

// testErrorBudgetRefuses asks for more budget than a service failing 0.5%
// of its requests against a 1% budget can have: the run ends Inconclusive
// with the figure, having injected nothing. The target is payments, which
// nothing else here touches, so an unchanged VirtualService proves it.
func testErrorBudgetRefuses(t *testing.T) {
	t.Parallel()
	before := vsSpec(virtualService(t, "payments"))
	exp := sloExperiment("e2e-slo-budget", "payments", canaryDelay(), 10*time.Second, sloProbe("ratings-pyrra", pyrraRef))
	exp.Spec.SteadyState.RequireErrorBudget = "99.9%"
	run := tb.RunExperiment(t, exp, 2*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	cond := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive || cond == nil || cond.Reason != chaosv1alpha1.ReasonErrorBudgetLow {
		t.Errorf("verdict %s (condition %+v), want Inconclusive with reason %s", run.Status.Verdict, cond, chaosv1alpha1.ReasonErrorBudgetLow)
	}
	if len(run.Status.SLOs) != 1 || run.Status.SLOs[0].ErrorBudgetRemaining == "" {
		t.Fatalf("status.slos %+v, want the budget left of ratings' SLO", run.Status.SLOs)
	}
	left := run.Status.SLOs[0].ErrorBudgetRemaining
	if v, err := parsePercent(left); err != nil || v >= 99.9 {
		t.Errorf("errorBudgetRemaining %q (%v), want a percentage below the 99.9%% required", left, err)
	}
	if !strings.Contains(run.Status.Message, left) || !strings.Contains(run.Status.Message, "99.9%") {
		t.Errorf("message %q does not give the budget left (%s) and the share required (99.9%%)", run.Status.Message, left)
	}
	if run.Status.Timeline.InjectedAt != nil {
		t.Errorf("the run injected at %s", run.Status.Timeline.InjectedAt)
	}
	for _, tgt := range run.Status.Targets {
		if tgt.Phase == chaosv1alpha1.TargetInjected || tgt.Phase == chaosv1alpha1.TargetReverted {
			t.Errorf("target %s/%s was injected (phase %s)", tgt.Namespace, tgt.Name, tgt.Phase)
		}
	}
	if !equality.Semantic.DeepEqual(before, vsSpec(virtualService(t, "payments"))) {
		t.Error("the payments VirtualService changed although nothing was to be injected")
	}
}

// testRelativeCondition holds ratings' p90 latency to 10% above what the
// baseline measured: the threshold is fixed from the baseline's mean when
// the baseline ends, and kept in status.
func testRelativeCondition(t *testing.T) {
	t.Parallel()
	query := fmt.Sprintf(`histogram_quantile(0.9, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_service_namespace=%q,destination_service_name="ratings"}[10s])))`, harness.ShopNamespace)
	exp := sloExperiment("e2e-slo-relative", "ratings", canaryDelay(), 10*time.Second, chaosv1alpha1.Probe{
		Name:       "ratings-p90",
		Prometheus: &chaosv1alpha1.PrometheusQuery{Query: query},
		Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: "+10%"},
	})
	run := tb.RunExperiment(t, exp, 2*time.Minute)
	t.Logf("report: %s", run.Status.Message)
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Errorf("verdict %s, want Passed (the 1ms delay stays in the p90's bucket): %s", run.Status.Verdict, run.Status.Message)
	}
	var ps *chaosv1alpha1.ProbeStatus
	for i := range run.Status.Probes {
		if run.Status.Probes[i].Name == "ratings-p90" {
			ps = &run.Status.Probes[i]
		}
	}
	if ps == nil {
		t.Fatalf("status.probes has no ratings-p90: %+v", run.Status.Probes)
	}
	t.Logf("baseline mean %s over %d samples, threshold %s", ps.BaselineMean, ps.BaselineSamples, ps.Threshold)
	mean, err1 := strconv.ParseFloat(ps.BaselineMean, 64)
	threshold, err2 := strconv.ParseFloat(ps.Threshold, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("baselineMean %q, threshold %q: want numbers (%v, %v)", ps.BaselineMean, ps.Threshold, err1, err2)
	}
	// A 5s baseline sampled every second.
	if minSamples := int32(exp.Spec.SteadyState.Baseline.Duration/harness.ProbeInterval) - 1; ps.BaselineSamples < minSamples {
		t.Errorf("baselineSamples %d, want at least %d over a %s baseline", ps.BaselineSamples, minSamples, exp.Spec.SteadyState.Baseline.Duration)
	}
	if !(mean > 0) || !harness.Within(threshold, mean*1.1, 1e-6*mean) {
		t.Errorf("threshold %v, want the baseline mean %v + 10%% = %v", threshold, mean, mean*1.1)
	}
}

// testBurnRateGuardAborts fails every request of reviews under a guard on
// its Sloth SLO's burn rate over 30s and 10s: both windows pass 5 times the
// budget within seconds, and the guard cuts the 2m fault short.
func testBurnRateGuardAborts(t *testing.T) {
	tb.RequireSteadyState(t)
	before := vsSpec(virtualService(t, "reviews"))
	const factor = "5"
	fault := &chaosv1alpha1.IstioFault{Routes: []string{"primary"}, Abort: &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: 100}}
	exp := sloExperiment("e2e-slo-burn", "reviews", fault, 2*time.Minute, chaosv1alpha1.Probe{
		Name:       "reviews-success",
		Prometheus: &chaosv1alpha1.PrometheusQuery{Query: harness.SuccessRatioQuery("reviews", "5s")},
		Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.9"},
	})
	exp.Spec.Abort = &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
		Name: "reviews-burn",
		SLO: &chaosv1alpha1.SLOGuard{SLORef: slothRef, BurnRate: &chaosv1alpha1.BurnRate{
			Long: metav1.Duration{Duration: 30 * time.Second}, Short: metav1.Duration{Duration: 10 * time.Second}, Factor: factor,
		}},
	}}}
	run := tb.RunExperiment(t, exp, 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictAborted || run.Status.Abort == nil || run.Status.Abort.Reason != chaosv1alpha1.AbortSLOBreached {
		t.Fatalf("verdict %s abort %+v, want Aborted by the burn-rate guard (%s)", run.Status.Verdict, run.Status.Abort, chaosv1alpha1.AbortSLOBreached)
	}
	tl := run.Status.Timeline
	if tl.InjectedAt == nil || tl.RevertedAt == nil {
		t.Fatalf("timeline %+v: the fault was not injected and reverted", tl)
	}
	// The long window's burn rate passes 5 once 5% of its 30s failed,
	// under 2s of a full outage; allow scrapes, sampling and the revert.
	if held := tl.RevertedAt.Sub(tl.InjectedAt.Time); held > 20*time.Second {
		t.Errorf("the 2m fault was held %s: the guard did not cut it short", held)
	} else {
		t.Logf("the guard reverted the fault %s after injection", held.Round(time.Millisecond))
	}
	var guard *chaosv1alpha1.SLOStatus
	for i := range run.Status.SLOs {
		if run.Status.SLOs[i].Name == "reviews-burn" {
			guard = &run.Status.SLOs[i]
		}
	}
	if guard == nil || guard.Kind != chaosv1alpha1.ProbeKindGuard || guard.Query == "" {
		t.Fatalf("status.slos %+v, want the guard reviews-burn with its burn-rate query", run.Status.SLOs)
	}
	if c := guard.Condition; c == nil || c.Op != chaosv1alpha1.OpLess || !numberNear(c.Value, 5) {
		t.Errorf("guard condition %+v, want < %s", guard.Condition, factor)
	}
	for _, w := range []string{"[30s]", "[10s]"} {
		if !strings.Contains(guard.Query, w) {
			t.Errorf("guard query %q has no %s window", guard.Query, w)
		}
	}
	if !equality.Semantic.DeepEqual(before, vsSpec(virtualService(t, "reviews"))) {
		t.Fatal("the reviews VirtualService was not restored after the abort")
	}
}

// waitJudgedServicesQuiet waits until reviews and ratings answer at least
// minSuccess of their requests over window: earlier faults have left it.
func waitJudgedServicesQuiet(t *testing.T, window string, minSuccess float64) {
	t.Helper()
	harness.WaitFor(t, 2*time.Minute, "reviews and ratings to be quiet over "+window, func(ctx context.Context) (bool, error) {
		for _, svc := range judgedServices {
			r, err := tb.SuccessRatio(ctx, svc, window)
			if err != nil {
				return false, err
			}
			if !(r >= minSuccess) {
				return false, fmt.Errorf("success ratio of %s over %s is %.4f", svc, window, r)
			}
		}
		return true, nil
	})
}

// promDuration writes d as PromQL does, such as "20s" or "1m".
func promDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

var percentRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?%$`)

// parsePercent reads "63.2%" as 63.2.
func parsePercent(s string) (float64, error) {
	if !percentRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a percentage such as \"63.2%%\"", s)
	}
	return strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
}

// numberNear reports whether s is a number within a millionth of want.
func numberNear(s string, want float64) bool {
	v, err := strconv.ParseFloat(s, 64)
	return err == nil && math.Abs(v-want) <= 1e-6*math.Max(1, math.Abs(want))
}
