// Package v1alpha1 contains the chaos.faultline.dev/v1alpha1 API: Experiment,
// ExperimentRun and ChaosPolicy.
//
// +kubebuilder:object:generate=true
// +groupName=chaos.faultline.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "chaos.faultline.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes lists every kind of the group in one place, so importing the
// package has no side effects.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&Experiment{}, &ExperimentList{},
		&ExperimentRun{}, &ExperimentRunList{},
		&ChaosPolicy{}, &ChaosPolicyList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
