package experimentrun

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// Metric label names. The run figures carry the Experiment's namespace and
// name, so a dashboard can trend one Experiment over its runs. Their
// cardinality is bounded by the Experiments that exist: a run is never a
// label of a histogram, and the series of an Experiment are deleted once it
// is gone (pruneExperiments). Only faultline_fault_active names a run, and
// only while that run's fault is applied.
const (
	labelNamespace  = "namespace"
	labelExperiment = "experiment"
	labelRun        = "run"
	labelKind       = "kind"
	labelVerdict    = "verdict"
)

// Metrics are the operator's own figures, served on the manager's metrics endpoint.
type Metrics struct {
	runs          *prometheus.CounterVec
	timeToDetect  *prometheus.HistogramVec
	timeToRecover *prometheus.HistogramVec
	abortLatency  *prometheus.HistogramVec
	activeRuns    prometheus.Gauge
	probeErrors   *prometheus.CounterVec
	// timeToNotify is from injection to Alertmanager's notification
	// reaching the operator's receiver.
	timeToNotify *prometheus.HistogramVec
	// timeToRemediate is from injection to the start of automatic remediation.
	timeToRemediate *prometheus.HistogramVec
	// faultActive is 1 for each run whose fault is applied and not yet
	// reverted, for dashboard annotations; the series is deleted when the
	// fault is reverted or the run is gone.
	faultActive *prometheus.GaugeVec
	// approvals counts approvals by outcome: accepted or refused at
	// admission, voided when the run's snapshot is another spec.
	approvals *prometheus.CounterVec
	// malformedObjects counts the stored objects, by kind, that the
	// operator cannot decode and so does not act on.
	malformedObjects *prometheus.GaugeVec

	mu sync.Mutex
	// counted remembers finished runs already counted, so a run reconciled
	// again after it finished is not counted twice. Runs no longer stored
	// are dropped from it (prune), so it does not grow forever.
	counted map[types.UID]struct{}
	// experiments are the Experiments that have series, so those of a
	// deleted Experiment can be deleted.
	experiments map[types.NamespacedName]struct{}
	// active are the runs with a faultActive series and its labels.
	active map[types.NamespacedName]prometheus.Labels
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}
	figure := []string{labelNamespace, labelExperiment}
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_runs_total", Help: "Finished experiment runs, by verdict.",
		}, []string{labelVerdict}),
		timeToDetect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_time_to_detect_seconds", Help: "Measured time from injection to detection, by Experiment.", Buckets: buckets,
		}, figure),
		timeToRecover: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_time_to_recover_seconds", Help: "Measured time from injection to recovery, by Experiment.", Buckets: buckets,
		}, figure),
		abortLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_abort_latency_seconds", Help: "Time from the decision to abort to the fault being reverted, by Experiment.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, figure),
		activeRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "faultline_active_runs", Help: "Runs that have started and not finished.",
		}),
		probeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_probe_errors_total", Help: "Probe, guard and alert checks that could not be measured.",
		}, []string{labelKind}),
		timeToNotify: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_time_to_notify_seconds", Help: "Measured time from injection to Alertmanager's notification reaching the operator's receiver, by Experiment.", Buckets: buckets,
		}, figure),
		timeToRemediate: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faultline_time_to_remediate_seconds", Help: "Measured time from injection to the start of automatic remediation, by Experiment.", Buckets: buckets,
		}, figure),
		faultActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faultline_fault_active", Help: "1 while a run's fault is applied and not reverted; absent otherwise.",
		}, []string{labelNamespace, labelExperiment, labelRun, labelKind}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_approvals_total", Help: "Run approvals, by result: approved or refused at admission, voided because the run's spec changed after approval.",
		}, []string{"result"}),
		malformedObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faultline_malformed_objects",
			Help: "Stored objects the operator cannot decode, by kind: an Experiment no run starts from, a run that is not driven. Each is reported by a Warning Event with reason Malformed naming the field.",
		}, []string{labelKind}),
		counted:     map[types.UID]struct{}{},
		experiments: map[types.NamespacedName]struct{}{},
		active:      map[types.NamespacedName]prometheus.Labels{},
	}
	for _, v := range []chaosv1alpha1.Verdict{chaosv1alpha1.VerdictPassed, chaosv1alpha1.VerdictFailed,
		chaosv1alpha1.VerdictAborted, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.VerdictError} {
		m.runs.WithLabelValues(string(v))
	}
	// Both kinds are present from the start, at zero, so an alert on the
	// gauge needs no absent() clause.
	m.malformedObjects.WithLabelValues(kindExperiment)
	m.malformedObjects.WithLabelValues(kindRun)
	reg.MustRegister(m.runs, m.timeToDetect, m.timeToRecover, m.abortLatency, m.activeRuns, m.probeErrors,
		m.timeToNotify, m.timeToRemediate, m.faultActive, m.approvals, m.malformedObjects)
	for _, r := range []string{approvalApproved, approvalRefused, approvalVoided} {
		m.approvals.WithLabelValues(r)
	}
	return m
}

// Approval outcomes, the result label of faultline_approvals_total; the
// admission webhook counts the first two through ObserveApproval.
const (
	approvalApproved = "approved"
	approvalRefused  = "refused"
	approvalVoided   = "voided"
)

// ObserveApproval counts one approval outcome ("approved", "refused" or
// "voided").
func (m *Metrics) ObserveApproval(result string) { m.observeApproval(result) }

func (m *Metrics) observeApproval(result string) {
	if m == nil {
		return
	}
	m.approvals.WithLabelValues(result).Inc()
}

// figures are the histograms labelled by Experiment.
func (m *Metrics) figures() []*prometheus.HistogramVec {
	return []*prometheus.HistogramVec{m.timeToDetect, m.timeToRecover, m.abortLatency, m.timeToNotify, m.timeToRemediate}
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
	res := run.Status.Result
	if res == nil {
		return
	}
	exp := runExperiment(run)
	m.experiments[exp] = struct{}{}
	labels := prometheus.Labels{labelNamespace: exp.Namespace, labelExperiment: exp.Name}
	for _, f := range []struct {
		h *prometheus.HistogramVec
		d *metav1.Duration
	}{
		{m.timeToDetect, res.TimeToDetect},
		{m.timeToRecover, res.TimeToRecover},
		{m.abortLatency, res.AbortLatency},
		{m.timeToNotify, res.TimeToNotify},
		{m.timeToRemediate, res.TimeToRemediate},
	} {
		if f.d != nil {
			f.h.With(labels).Observe(f.d.Seconds())
		}
	}
}

// observeFault keeps the run's faultline_fault_active series in step with
// its status: present with value 1 while any target has the fault applied,
// deleted once every target is reverted or the run completed.
func (m *Metrics) observeFault(run *chaosv1alpha1.ExperimentRun) {
	if m == nil {
		return
	}
	key := types.NamespacedName{Namespace: run.Namespace, Name: run.Name}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !faultApplied(run) {
		m.forgetFaultLocked(key)
		return
	}
	exp := runExperiment(run)
	labels := prometheus.Labels{labelNamespace: run.Namespace, labelExperiment: exp.Name, labelRun: run.Name, labelKind: faultKind(run.Status.Experiment)}
	if old, ok := m.active[key]; ok && !sameLabels(old, labels) {
		m.faultActive.Delete(old)
	}
	m.active[key] = labels
	m.experiments[exp] = struct{}{}
	m.faultActive.With(labels).Set(1)
}

// forgetRun deletes the faultline_fault_active series of a run that is gone.
func (m *Metrics) forgetRun(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetFaultLocked(key)
}

func (m *Metrics) forgetFaultLocked(key types.NamespacedName) {
	if labels, ok := m.active[key]; ok {
		m.faultActive.Delete(labels)
		delete(m.active, key)
	}
}

// prune drops what the stored objects no longer justify: the series of
// Experiments that are gone, the fault series of runs that are gone, and the
// memory of counted runs that are gone. runs and experiments are every
// stored run and Experiment.
func (m *Metrics) prune(runs []chaosv1alpha1.ExperimentRun, experiments map[types.NamespacedName]struct{}) {
	if m == nil {
		return
	}
	stored := make(map[types.UID]struct{}, len(runs))
	names := make(map[types.NamespacedName]struct{}, len(runs))
	for i := range runs {
		stored[runs[i].UID] = struct{}{}
		names[types.NamespacedName{Namespace: runs[i].Namespace, Name: runs[i].Name}] = struct{}{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for uid := range m.counted {
		if _, ok := stored[uid]; !ok {
			delete(m.counted, uid)
		}
	}
	for key := range m.active {
		if _, ok := names[key]; !ok {
			m.forgetFaultLocked(key)
		}
	}
	for exp := range m.experiments {
		if _, ok := experiments[exp]; ok {
			continue
		}
		labels := prometheus.Labels{labelNamespace: exp.Namespace, labelExperiment: exp.Name}
		for _, h := range m.figures() {
			h.DeletePartialMatch(labels)
		}
		m.faultActive.DeletePartialMatch(labels)
		delete(m.experiments, exp)
	}
}

// Kinds of the faultline_malformed_objects gauge.
const (
	kindExperiment = "Experiment"
	kindRun        = "ExperimentRun"
)

// setMalformedRuns sets how many runs cannot be decoded.
func (m *Metrics) setMalformedRuns(n int) {
	if m != nil {
		m.malformedObjects.WithLabelValues(kindRun).Set(float64(n))
	}
}

// setMalformedExperiments sets how many Experiments cannot be decoded.
func (m *Metrics) setMalformedExperiments(n int) {
	if m != nil {
		m.malformedObjects.WithLabelValues(kindExperiment).Set(float64(n))
	}
}

// SetActive sets the number of active runs.
func (m *Metrics) SetActive(n int) {
	if m != nil {
		m.activeRuns.Set(float64(n))
	}
}

// runExperiment is the Experiment a run belongs to.
func runExperiment(run *chaosv1alpha1.ExperimentRun) types.NamespacedName {
	return types.NamespacedName{Namespace: run.Namespace, Name: run.Spec.ExperimentRef.Name}
}

// faultApplied says whether any target of an unfinished run has the fault
// applied and not reverted.
func faultApplied(run *chaosv1alpha1.ExperimentRun) bool {
	if run.Status.Phase == chaosv1alpha1.PhaseCompleted {
		return false
	}
	for _, t := range run.Status.Targets {
		if t.InjectedAt != nil && t.RevertedAt == nil {
			return true
		}
	}
	return false
}

// faultKind names the fault of a run's spec as the API spells it.
func faultKind(spec *chaosv1alpha1.ExperimentSpec) string {
	switch {
	case spec == nil:
		return "unknown"
	case spec.Fault.PodKill != nil:
		return "podKill"
	case spec.Fault.Istio != nil:
		return "istio"
	case spec.Fault.NodeDrain != nil:
		return "nodeDrain"
	}
	return "unknown"
}

func sameLabels(a, b prometheus.Labels) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
