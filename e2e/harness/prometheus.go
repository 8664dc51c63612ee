package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// ErrNoData is returned by Query when the query yields no sample.
var ErrNoData = errors.New("query returned no data")

// Query runs an instant PromQL query now and returns its one value: ErrNoData
// for an empty result, an error for several series. 0/0 gives NaN, not an
// error.
func (t *Testbed) Query(ctx context.Context, query string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := t.Prom.Query(ctx, query, time.Now())
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", query, err)
	}
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("query %s: %w", query, ErrNoData)
		case 1:
			return float64(v[0].Value), nil
		default:
			return 0, fmt.Errorf("query %s: %d series, want 1", query, len(v))
		}
	default:
		return 0, fmt.Errorf("query %s: a %s, want a vector or scalar", query, v.Type())
	}
}

// SuccessRatioQuery is the share of a shop service's requests that did not
// fail with a 5xx over window (a PromQL duration such as "5s"), as Istio
// reports it (simulated by trafficsim).
func SuccessRatioQuery(service, window string) string {
	return fmt.Sprintf(`sum(rate(istio_requests_total{destination_service_namespace=%q,destination_service_name=%q,response_code!~"5.."}[%s]))`+
		` / sum(rate(istio_requests_total{destination_service_namespace=%q,destination_service_name=%q}[%s]))`,
		ShopNamespace, service, window, ShopNamespace, service, window)
}

// SuccessRatio is SuccessRatioQuery's value now.
func (t *Testbed) SuccessRatio(ctx context.Context, service, window string) (float64, error) {
	return t.Query(ctx, SuccessRatioQuery(service, window))
}

// AlertFiring reports whether alert is firing in Prometheus now.
func (t *Testbed) AlertFiring(ctx context.Context, alert string) (bool, error) {
	_, err := t.Query(ctx, fmt.Sprintf(`max(ALERTS{alertname=%q,alertstate="firing"})`, alert))
	if errors.Is(err, ErrNoData) {
		return false, nil
	}
	return err == nil, err
}

// StopPrometheus stops the testbed's Prometheus (SIGTERM, then waits for it
// to exit). Only for the testbed of hack/testbed-up.sh; skips the test
// otherwise. Pair it with StartPrometheus, also in a t.Cleanup.
func (t *Testbed) StopPrometheus(tt testing.TB) {
	tt.Helper()
	t.RequireManaged(tt)
	pid, err := ReadPID(filepath.Join(t.StateDir, "prometheus.pid"))
	if err != nil {
		tt.Fatalf("Prometheus PID: %v", err)
	}
	if err := terminate(pid, 10*time.Second); err != nil {
		tt.Fatalf("stopping Prometheus: %v", err)
	}
}

// StartPrometheus starts the testbed's Prometheus again, with its data,
// through hack/testbed-up.sh (which restarts only what is down), and waits
// until it answers. A no-op if it runs.
func (t *Testbed) StartPrometheus(tt testing.TB) {
	tt.Helper()
	t.RequireManaged(tt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Reuse only: a cluster the script found wanting must fail the test,
	// not be rebuilt under the suite's feet (new certificates, no objects).
	if err := t.script(ctx, "testbed-up.sh", "FAULTLINE_TESTBED_REUSE_ONLY=1", "FAULTLINE_TESTBED_SKIP_TOOLS=1"); err != nil {
		tt.Fatal(err)
	}
}
