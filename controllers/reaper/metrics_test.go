package reaper_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/reaper"
)

// TestSweepsAreCountedByResult: a sweep that cannot list the nodes counts
// as an error and leaves the last-success time alone; the next sweep that
// works counts as ok and sets it. FaultlineReaperFailing reads exactly these.
func TestSweepsAreCountedByResult(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, chaosv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	apiDown := true
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, nodes := list.(*corev1.NodeList); nodes && apiDown {
				return errors.New("the API server is unreachable")
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	reg := prometheus.NewPedanticRegistry()
	r := &reaper.Reaper{Client: c, Clock: clock, Metrics: reaper.NewMetrics(reg)}

	expect := func(ok, failed int, lastSuccess time.Time) {
		t.Helper()
		var last float64
		if !lastSuccess.IsZero() {
			last = float64(lastSuccess.Unix())
		}
		want := fmt.Sprintf(`# HELP faultline_reaper_last_success_timestamp_seconds When the reaper last finished a sweep without error, in Unix seconds; 0 until it has.
# TYPE faultline_reaper_last_success_timestamp_seconds gauge
faultline_reaper_last_success_timestamp_seconds %g
# HELP faultline_reaper_sweeps_total Sweeps of the reaper (the dead-man switch that reverts faults whose run is gone or overdue), by result: ok or error.
# TYPE faultline_reaper_sweeps_total counter
faultline_reaper_sweeps_total{result="error"} %d
faultline_reaper_sweeps_total{result="ok"} %d
`, last, failed, ok)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"faultline_reaper_sweeps_total", "faultline_reaper_last_success_timestamp_seconds"); err != nil {
			t.Error(err)
		}
	}

	expect(0, 0, time.Time{})
	if _, err := r.PassAll(t.Context()); err == nil {
		t.Fatal("a sweep that could not list the nodes returned no error")
	}
	clock.SetTime(clock.Now().Add(30 * time.Second))
	if _, err := r.Pass(t.Context()); err == nil {
		t.Fatal("a sweep that could not list the nodes returned no error")
	}
	expect(0, 2, time.Time{})

	apiDown = false
	clock.SetTime(clock.Now().Add(30 * time.Second))
	if _, err := r.Pass(t.Context()); err != nil {
		t.Fatalf("a sweep that could list everything failed: %v", err)
	}
	expect(1, 2, clock.Now())
}
