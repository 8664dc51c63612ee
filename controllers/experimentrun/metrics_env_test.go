package experimentrun_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
)

// faultActiveSeries gathers faultline_fault_active from reg, one label set
// each.
func faultActiveSeries(t *testing.T, reg prometheus.Gatherer) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == "faultline_fault_active" {
			return f.GetMetric()
		}
	}
	return nil
}

// TestFaultActiveGaugeDuringARun drives a pod kill on the API server and
// reads the gauge a dashboard annotates with: 1, labelled with the run,
// while the pod is killed and the run observes; gone once the run is over.
func TestFaultActiveGaugeDuringARun(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)
	reg := prometheus.NewPedanticRegistry()
	e.r.Metrics = experimentrun.NewMetrics(reg)

	e.drive(key, inPhase(chaosv1alpha1.PhaseBaseline))
	if got := faultActiveSeries(t, reg); len(got) != 0 {
		t.Fatalf("fault_active during the baseline, before anything was injected: %v", got)
	}

	e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	got := faultActiveSeries(t, reg)
	if len(got) != 1 {
		t.Fatalf("fault_active series while observing = %v, want exactly one", got)
	}
	labels := map[string]string{}
	for _, l := range got[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"namespace": e.ns, "experiment": exp.Name, "run": key.Name, "kind": "podKill"}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("fault_active label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
		}
	}
	if v := got[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("fault_active = %g while the fault is applied, want 1", v)
	}

	run := e.drive(key, released)
	if got := faultActiveSeries(t, reg); len(got) != 0 {
		t.Errorf("fault_active series after the run completed (%s) = %v, want none", run.Status.Verdict, got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "faultline_time_to_recover_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			if ls["namespace"] == e.ns && ls["experiment"] == exp.Name && m.GetHistogram().GetSampleCount() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no time-to-recover observation labelled %s/%s", e.ns, exp.Name)
	}
}
