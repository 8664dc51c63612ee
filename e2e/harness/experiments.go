package harness

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ProbeInterval is how often the shop Experiments' probes look.
const ProbeInterval = time.Second

// PodKillExperiment kills one checkout pod and watches checkout's readiness
// and success ratio at a 1s interval.
func (t *Testbed) PodKillExperiment(name string) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ShopNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind:       chaosv1alpha1.TargetPod,
				Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
				Mode:       chaosv1alpha1.SelectOne,
				MaxTargets: ptr.To[int32](1),
			},
			Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
				Address: "http://" + t.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
			}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: ProbeInterval},
				Baseline:        metav1.Duration{Duration: 3 * time.Second},
				Stabilization:   3,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes: []chaosv1alpha1.Probe{
					{Name: "checkout-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100}},
					{Name: "checkout-success", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: SuccessRatioQuery("checkout", "5s")},
						Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.9"}},
				},
			},
			Objectives: &chaosv1alpha1.ObjectivesSpec{
				DetectWithin:  &metav1.Duration{Duration: 5 * time.Second},
				RecoverWithin: &metav1.Duration{Duration: 30 * time.Second},
			},
			Abort: &chaosv1alpha1.AbortSpec{OnProbeError: chaosv1alpha1.ProbeErrorAbort, ProbeErrorThreshold: 3},
		},
	}
}

// IstioExperiment hurts cart's "primary" route for hold.
func (t *Testbed) IstioExperiment(name string, fault chaosv1alpha1.IstioFault, hold time.Duration) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ShopNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind: chaosv1alpha1.TargetVirtualService, Names: []string{"cart"},
				Mode: chaosv1alpha1.SelectAll, MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{Istio: &fault},
			Duration: &metav1.Duration{Duration: hold},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
				Address: "http://" + t.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
			}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: ProbeInterval},
				Baseline:        metav1.Duration{Duration: 3 * time.Second},
				Stabilization:   3,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes: []chaosv1alpha1.Probe{{
					Name:       "cart-success",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: SuccessRatioQuery("cart", "5s")},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.95"},
				}},
			},
			Objectives: &chaosv1alpha1.ObjectivesSpec{
				DetectWithin:  &metav1.Duration{Duration: 10 * time.Second},
				RecoverWithin: &metav1.Duration{Duration: hold + 30*time.Second},
			},
		},
	}
}

// AbortFault fails percent of the requests on a shop VirtualService's
// "primary" route with a 503.
func AbortFault(percent int32) chaosv1alpha1.IstioFault {
	return chaosv1alpha1.IstioFault{Routes: []string{"primary"}, Abort: &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: percent}}
}

// DrainExperiment drains the named node for hold.
func (t *Testbed) DrainExperiment(name, node string, hold, timeout time.Duration) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ShopNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode, Names: []string{node}, Mode: chaosv1alpha1.SelectOne, MaxTargets: ptr.To[int32](1)},
			Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{
				GracePeriodSeconds: ptr.To[int64](0), Timeout: &metav1.Duration{Duration: timeout},
			}},
			Duration: &metav1.Duration{Duration: hold},
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: ProbeInterval},
				Baseline:        metav1.Duration{Duration: 3 * time.Second},
				Stabilization:   3,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes: []chaosv1alpha1.Probe{
					{Name: "checkout-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100}},
					{Name: "cart-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "cart", MinReadyPercent: 100}},
				},
			},
			Objectives: &chaosv1alpha1.ObjectivesSpec{RecoverWithin: &metav1.Duration{Duration: time.Minute}},
		},
	}
}
