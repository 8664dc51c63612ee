package sim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// IstioDurationBuckets are Istio's default buckets for
// istio_request_duration_milliseconds, so histogram_quantile gives the same
// answers as against a real mesh.
var IstioDurationBuckets = []float64{
	0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
	30000, 60000, 300000, 600000, 1800000, 3600000,
}

// CanaryLabel is the label of istio_requests_total and
// istio_request_duration_milliseconds that tells the canary slice of
// traffic ("true": the request carried CanaryHeader) from the rest
// ("false"), so a comparison can sample each slice on its own.
//
// Istio's standard metrics have no such label. A real mesh gets it from a
// Telemetry resource whose tagOverrides entry reads it from the request
// header, on REQUEST_COUNT and REQUEST_DURATION:
//
//	apiVersion: telemetry.istio.io/v1
//	kind: Telemetry
//	metadata: {name: canary-label, namespace: shop}
//	spec:
//	  metrics:
//	  - providers: [{name: prometheus}]
//	    overrides:
//	    - match: {metric: REQUEST_COUNT}
//	      tagOverrides:
//	        canary: {value: "request.headers['x-faultline-canary'] == 'true' ? 'true' : 'false'"}
//	    - match: {metric: REQUEST_DURATION}
//	      tagOverrides:
//	        canary: {value: "request.headers['x-faultline-canary'] == 'true' ? 'true' : 'false'"}
const CanaryLabel = "canary"

// canaryValues are CanaryLabel's values, every one of which Init creates.
var canaryValues = []string{"false", "true"}

// Metrics holds the series the simulator exports, named and labelled as
// Istio's standard metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ready    *prometheus.GaugeVec
	// faultStarted and faultEnded are when the service's routes last
	// gained and lost a fault: the ground truth an experiment's measured
	// instants are compared with.
	faultStarted *prometheus.GaugeVec
	faultEnded   *prometheus.GaugeVec
	reporter     string
	source       string
	registry     *prometheus.Registry
}

// NewMetrics registers the simulator's metrics in a registry of their own, so
// that no Go or process collectors (and nothing a library registered
// globally) mix into what probes see. reporter and sourceWorkload fill the
// labels of the same names.
func NewMetrics(reporter, sourceWorkload string) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_requests_total",
			Help: "Requests to a service, as Istio's standard metric (simulated).",
		}, []string{
			"reporter", "source_workload", "destination_service_name",
			"destination_service_namespace", "destination_workload",
			"response_code", "response_flags", CanaryLabel,
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_request_duration_milliseconds",
			Help:    "Request duration in milliseconds, as Istio's standard metric (simulated).",
			Buckets: IstioDurationBuckets,
		}, []string{
			"reporter", "source_workload", "destination_service_name",
			"destination_service_namespace", "destination_workload",
			"response_code", CanaryLabel,
		}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trafficsim_ready_endpoints",
			Help: "Ready endpoints the simulator sees in a service's EndpointSlices.",
		}, []string{"destination_service_name", "destination_service_namespace"}),
		faultStarted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trafficsim_fault_started_seconds",
			Help: "Unix time at which the service's routes last gained a fault (delay or abort): from then on the simulated requests see it.",
		}, []string{"destination_service_name", "destination_service_namespace"}),
		faultEnded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trafficsim_fault_ended_seconds",
			Help: "Unix time at which the service's routes last lost their faults.",
		}, []string{"destination_service_name", "destination_service_namespace"}),
		reporter: reporter,
		source:   sourceWorkload,
		registry: prometheus.NewRegistry(),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ready, m.faultStarted, m.faultEnded} {
		if err := m.registry.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Init creates the 200 and 503 series of svc at zero, for the canary slice
// and the rest alike, because rate() needs two samples of a series and would
// otherwise miss the first errors of an experiment (or of one slice).
func (m *Metrics) Init(svc ServiceRef) {
	for _, code := range []string{"200", "503"} {
		for _, canary := range canaryValues {
			m.requests.WithLabelValues(m.labels(svc, code, FlagNone, canary)...)
		}
	}
	m.ready.WithLabelValues(svc.Name, svc.Namespace)
}

// Record counts one request to svc and observes its latency, labelled with
// whether req belongs to the canary slice.
func (m *Metrics) Record(svc ServiceRef, req Request, o Outcome) {
	code := strconv.Itoa(o.Code)
	canary := strconv.FormatBool(req.Canary())
	m.requests.WithLabelValues(m.labels(svc, code, o.Flags, canary)...).Inc()
	m.duration.WithLabelValues(m.labels(svc, code, canary)...).Observe(float64(o.Latency.Microseconds()) / 1000)
}

// SetReady publishes the ready endpoint count of svc.
func (m *Metrics) SetReady(svc ServiceRef, n int) {
	m.ready.WithLabelValues(svc.Name, svc.Namespace).Set(float64(n))
}

// SetFaulted records that svc's routes gained (faulted) or lost their
// faults at the given time.
func (m *Metrics) SetFaulted(svc ServiceRef, faulted bool, at time.Time) {
	g := m.faultEnded
	if faulted {
		g = m.faultStarted
	}
	g.WithLabelValues(svc.Name, svc.Namespace).Set(float64(at.UnixNano()) / 1e9)
}

// labels lists label values in the order of the vectors' label names; the
// destination workload is named after the service, as the demo's
// Deployments are.
func (m *Metrics) labels(svc ServiceRef, extra ...string) []string {
	return append([]string{m.reporter, m.source, svc.Name, svc.Namespace, svc.Name}, extra...)
}
