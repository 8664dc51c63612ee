package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// dashboardFile is the dashboard as kept in the repository; the chart ships
// a copy.
var (
	dashboardFile      = filepath.Join("..", "..", "config", "grafana", "faultline-dashboard.json")
	chartDashboardFile = filepath.Join("..", "..", "charts", "faultline", "dashboards", "faultline-dashboard.json")
)

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
	Annots struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVariables are what Grafana substitutes before it sends a query, with
// values of the right type, so the query Prometheus receives is parsed.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "2m",
	"$__interval", "30s",
	"$__range", "7d",
	"$window", "1d",
	"$namespace", "shop",
	"$experiment", "checkout-pod-kill",
)

var promQL = parser.NewParser(parser.Options{})

// operatorRegistry is the manager's registry (controller-runtime's own
// metrics, registered when its packages load) with Faultline's registered
// as main registers them.
var operatorRegistry = sync.OnceValue(func() prometheus.Registerer {
	registerMetrics(metrics.Registry)
	return metrics.Registry
})

// registered says whether reg holds a metric family called name. A family
// with no series yet is not gathered, so the name is also offered to the
// registry as a new gauge: a registry refuses a second descriptor of a name
// it already holds.
func registered(reg prometheus.Registerer, gathered map[string]bool, name string) bool {
	if gathered[name] {
		return true
	}
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe of whether the name is registered"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// metricNames lists the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

// familyOf is the registered family a series name belongs to: a histogram's
// _bucket, _sum and _count series belong to the histogram.
func familyOf(reg prometheus.Registerer, gathered map[string]bool, name string) (string, bool) {
	if registered(reg, gathered, name) {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && registered(reg, gathered, base) {
			return base, true
		}
	}
	return "", false
}

func readDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	return d, data
}

// TestDashboardQueriesParseAndNameRegisteredMetrics: every query of every
// panel, annotation and variable parses as PromQL once Grafana's variables
// are substituted, and selects only metrics the operator registers, so a
// renamed metric breaks this test rather than a dashboard in production.
func TestDashboardQueriesParseAndNameRegisteredMetrics(t *testing.T) {
	d, _ := readDashboard(t)
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

	type query struct{ where, expr string }
	var queries []query
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, target := range p.Targets {
			queries = append(queries, query{where: "panel " + strings.TrimSpace(p.Title) + " target " + string(rune('A'+i)), expr: target.Expr})
		}
	}
	for _, a := range d.Annots.List {
		if a.Expr != "" {
			queries = append(queries, query{where: "annotation " + a.Name, expr: a.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		// label_values(SELECTOR, LABEL) is Grafana's, not PromQL: its
		// selector is.
		inner, ok := strings.CutPrefix(text, "label_values(")
		if i := strings.LastIndex(inner, ","); ok && i > 0 {
			queries = append(queries, query{where: "variable " + v.Name, expr: inner[:i]})
		} else {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, text)
		}
	}

	seen := map[string]bool{}
	for _, q := range queries {
		if strings.TrimSpace(q.expr) == "" {
			t.Errorf("%s: empty query", q.where)
			continue
		}
		expr, err := promQL.ParseExpr(grafanaVariables.Replace(q.expr))
		if err != nil {
			var perrs parser.ParseErrors
			if errors.As(err, &perrs) && len(perrs) > 0 {
				err = &perrs[0]
			}
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
		for _, name := range names {
			family, ok := familyOf(reg, gathered, name)
			if !ok {
				t.Errorf("%s: %q selects %s, which the operator does not register", q.where, q.expr, name)
				continue
			}
			seen[family] = true
		}
	}
	// The panels the dashboard promises, by the metric each is drawn from.
	for _, want := range []string{
		"faultline_runs_total", "faultline_time_to_detect_seconds", "faultline_time_to_notify_seconds",
		"faultline_time_to_remediate_seconds", "faultline_time_to_recover_seconds", "faultline_fault_active",
		"faultline_abort_latency_seconds", "controller_runtime_reconcile_errors_total", "faultline_build_info",
	} {
		if !seen[want] {
			t.Errorf("no panel or annotation shows %s", want)
		}
	}
	annotated := slices.ContainsFunc(d.Annots.List, func(a struct {
		Name string `json:"name"`
		Expr string `json:"expr"`
	}) bool {
		return strings.Contains(a.Expr, "faultline_fault_active")
	})
	if !annotated {
		t.Error("no annotation is drawn from faultline_fault_active")
	}
}

// TestRegisteredProbeRefusesUnknownNames keeps the check above honest: a
// name nobody registered is reported as such, and the probe leaves nothing
// behind.
func TestRegisteredProbeRefusesUnknownNames(t *testing.T) {
	reg := operatorRegistry()
	if registered(reg, nil, "faultline_no_such_metric_total") {
		t.Fatal("an unregistered name was reported as registered")
	}
	if registered(reg, nil, "faultline_no_such_metric_total") {
		t.Fatal("probing a name registered it")
	}
	if !registered(reg, nil, "faultline_fault_active") || !registered(reg, nil, "controller_runtime_reconcile_errors_total") {
		t.Fatal("a registered family with no series yet was reported as unregistered")
	}
}

// TestChartShipsTheDashboard: the chart's copy is the dashboard itself
// (hack/sync-chart.sh copies it; Helm reads files inside the chart only).
func TestChartShipsTheDashboard(t *testing.T) {
	d, want := readDashboard(t)
	got, err := os.ReadFile(chartDashboardFile)
	if err != nil {
		t.Fatalf("the chart carries no dashboard (%v): run hack/sync-chart.sh", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s: run hack/sync-chart.sh", chartDashboardFile, dashboardFile)
	}
	if d.UID == "" {
		t.Error("the dashboard has no uid: Grafana would make a new one at every load, breaking links")
	}
}
