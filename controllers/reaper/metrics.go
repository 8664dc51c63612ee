package reaper

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sweep results, the values of the result label of faultline_reaper_sweeps_total.
const (
	resultOK    = "ok"
	resultError = "error"
)

// Metrics are the reaper's figures, served on the manager's metrics
// endpoint beside the run figures. A reaper that keeps failing leaves
// orphaned faults in place with nothing else to say so: the
// FaultlineReaperFailing alert of the chart's PrometheusRule reads these.
type Metrics struct {
	// sweeps counts finished sweeps by result: ok when every artefact was
	// listed and every orphan reverted, error otherwise.
	sweeps *prometheus.CounterVec
	// lastSuccess is when the last sweep that met no error ended, in Unix
	// seconds; 0 until one has (on a replica that is not the leader, always).
	lastSuccess prometheus.Gauge
	// reverted counts the orphaned artefacts the reaper reverted.
	reverted prometheus.Counter
}

// NewMetrics creates the reaper's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_reaper_sweeps_total",
			Help: "Sweeps of the reaper (the dead-man switch that reverts faults whose run is gone or overdue), by result: ok or error.",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "faultline_reaper_last_success_timestamp_seconds",
			Help: "When the reaper last finished a sweep without error, in Unix seconds; 0 until it has.",
		}),
		reverted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "faultline_reaper_reverted_total",
			Help: "Orphaned or overdue faults the reaper reverted.",
		}),
	}
	// Both results exist from the start, so increase() and rate() over
	// them have a series to work on before the first failure.
	m.sweeps.WithLabelValues(resultOK)
	m.sweeps.WithLabelValues(resultError)
	reg.MustRegister(m.sweeps, m.lastSuccess, m.reverted)
	return m
}

// observeSweep records a finished sweep that reverted reverted artefacts and
// ended at now with err.
func (m *Metrics) observeSweep(reverted int, err error, now time.Time) {
	if m == nil {
		return
	}
	m.reverted.Add(float64(reverted))
	if err != nil {
		m.sweeps.WithLabelValues(resultError).Inc()
		return
	}
	m.sweeps.WithLabelValues(resultOK).Inc()
	m.lastSuccess.Set(float64(now.UnixNano()) / float64(time.Second))
}
