package experimentrun

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// Metrics are the operator's own figures, served on the manager's metrics endpoint.
type Metrics struct {
	runs          *prometheus.CounterVec
	timeToDetect  prometheus.Histogram
	timeToRecover prometheus.Histogram
	abortLatency  prometheus.Histogram
	activeRuns    prometheus.Gauge
	probeErrors   *prometheus.CounterVec
	// timeToNotify is from injection to Alertmanager's notification
	// reaching the operator's receiver.
	timeToNotify prometheus.Histogram

	// timeToRemediate is from injection to the start of automatic remediation.
	timeToRemediate prometheus.Histogram

	mu sync.Mutex
	// counted remembers finished runs already counted, so a run reconciled
	// again after it finished is not counted twice.
	counted map[types.UID]struct{}
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_runs_total", Help: "Finished experiment runs, by verdict.",
		}, []string{"verdict"}),
		timeToDetect: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "faultline_time_to_detect_seconds", Help: "Measured time from injection to detection.", Buckets: buckets,
		}),
		timeToRecover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "faultline_time_to_recover_seconds", Help: "Measured time from injection to recovery.", Buckets: buckets,
		}),
		abortLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "faultline_abort_latency_seconds", Help: "Time from the decision to abort to the fault being reverted.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}),
		activeRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "faultline_active_runs", Help: "Runs that have started and not finished.",
		}),
		probeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_probe_errors_total", Help: "Probe, guard and alert checks that could not be measured.",
		}, []string{"kind"}),
		counted: map[types.UID]struct{}{},
	}
	for _, v := range []chaosv1alpha1.Verdict{chaosv1alpha1.VerdictPassed, chaosv1alpha1.VerdictFailed,
		chaosv1alpha1.VerdictAborted, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.VerdictError} {
		m.runs.WithLabelValues(string(v))
	}
	reg.MustRegister(m.runs, m.timeToDetect, m.timeToRecover, m.abortLatency, m.activeRuns, m.probeErrors)
	m.timeToNotify = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "faultline_time_to_notify_seconds", Help: "Measured time from injection to Alertmanager's notification reaching the operator's receiver.", Buckets: buckets,
	})
	reg.MustRegister(m.timeToNotify)
	m.timeToRemediate = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "faultline_time_to_remediate_seconds", Help: "Measured time from injection to the start of automatic remediation.", Buckets: buckets,
	})
	reg.MustRegister(m.timeToRemediate)
	return m
}

// observeSample counts the checks of a sample that could not be measured.
func (m *Metrics) observeSample(s probes.Sample) {
	if m == nil {
		return
	}
	for _, r := range s.Results {
		if r.Err != nil {
			m.probeErrors.WithLabelValues(string(r.Kind)).Inc()
		}
	}
}

// observeFinished records a finished run once.
func (m *Metrics) observeFinished(run *chaosv1alpha1.ExperimentRun) {
	if m == nil || run.Status.Phase != chaosv1alpha1.PhaseCompleted {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.counted[run.UID]; ok {
		return
	}
	m.counted[run.UID] = struct{}{}
	m.runs.WithLabelValues(string(run.Status.Verdict)).Inc()
	if res := run.Status.Result; res != nil {
		if res.TimeToDetect != nil {
			m.timeToDetect.Observe(res.TimeToDetect.Seconds())
		}
		if res.TimeToRecover != nil {
			m.timeToRecover.Observe(res.TimeToRecover.Seconds())
		}
		if res.AbortLatency != nil {
			m.abortLatency.Observe(res.AbortLatency.Seconds())
		}
		if res.TimeToNotify != nil {
			m.timeToNotify.Observe(res.TimeToNotify.Seconds())
		}
		if res.TimeToRemediate != nil {
			m.timeToRemediate.Observe(res.TimeToRemediate.Seconds())
		}
	}
}

// SetActive sets the number of active runs.
func (m *Metrics) SetActive(n int) {
	if m != nil {
		m.activeRuns.Set(float64(n))
	}
}
