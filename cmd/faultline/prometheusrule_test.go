package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// faultlineMetric matches the names of Faultline's own series in a rule
// expression (faultline-metrics, the scrape job, has a hyphen).
var faultlineMetric = regexp.MustCompile(`\bfaultline_[a-z_]+\b`)

// TestPrometheusRuleNamesRegisteredMetrics: the chart's alerts on the
// operator select only Faultline metrics the operator registers, so a
// renamed or unregistered metric (the reaper's, say) breaks this test
// rather than leaving an alert that can never fire. promtool checks the
// rules themselves in internal/charttest.
func TestPrometheusRuleNamesRegisteredMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", "..", "charts", "faultline", "templates", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := operatorRegistry()
	gatherer, ok := reg.(prometheus.Gatherer)
	if !ok {
		t.Fatal("the manager's registry cannot be gathered")
	}
	families, err := gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]bool{}
	for _, f := range families {
		gathered[f.GetName()] = true
	}
	names := faultlineMetric.FindAllString(string(rules), -1)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, want := range []string{"faultline_reaper_sweeps_total", "faultline_reaper_last_success_timestamp_seconds"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert reads %s; FaultlineReaperFailing should", want)
		}
	}
	for _, name := range names {
		if _, ok := familyOf(reg, gathered, name); !ok {
			t.Errorf("the PrometheusRule selects %s, which the operator does not register", name)
		}
	}
}
