package faults

import (
	"fmt"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Registry builds the Fault an Experiment declares. The operator's main fills
// it in explicitly, so which faults a binary can inject is visible in one place.
type Registry struct {
	// PodKill builds pod-kill faults.
	PodKill func(spec chaosv1alpha1.PodKillFault) Fault
	// Istio builds VirtualService delay/abort faults.
	Istio func(spec chaosv1alpha1.IstioFault) Fault
	// NodeDrain builds node-drain faults.
	NodeDrain func(spec chaosv1alpha1.NodeDrainFault) Fault
}

// For returns the Fault of spec, or an error naming a fault this operator
// was built without.
func (r Registry) For(spec *chaosv1alpha1.ExperimentSpec) (Fault, error) {
	f := spec.Fault
	switch {
	case f.PodKill != nil && r.PodKill != nil:
		return r.PodKill(*f.PodKill), nil
	case f.Istio != nil && r.Istio != nil:
		return r.Istio(*f.Istio), nil
	case f.NodeDrain != nil && r.NodeDrain != nil:
		return r.NodeDrain(*f.NodeDrain), nil
	case f.PodKill != nil:
		return nil, fmt.Errorf("this operator cannot inject podKill faults")
	case f.Istio != nil:
		return nil, fmt.Errorf("this operator cannot inject istio faults")
	case f.NodeDrain != nil:
		return nil, fmt.Errorf("this operator cannot inject nodeDrain faults")
	}
	return nil, fmt.Errorf("the experiment declares no fault")
}
