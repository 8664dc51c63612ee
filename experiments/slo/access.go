package slo

import (
	"errors"

	"k8s.io/apimachinery/pkg/runtime/schema"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The kinds an SLORef reads.
var (
	// SlothKind is Sloth's PrometheusServiceLevel.
	SlothKind = schema.GroupVersionKind{Group: "sloth.slok.dev", Version: "v1", Kind: "PrometheusServiceLevel"}
	// PyrraKind is Pyrra's ServiceLevelObjective.
	PyrraKind = schema.GroupVersionKind{Group: "pyrra.dev", Version: "v1alpha1", Kind: "ServiceLevelObjective"}
	// ConfigMapKind holds OpenSLO documents.
	ConfigMapKind = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

// Object is the Kubernetes object an SLORef reads: its kind, and the
// resource, namespace and name a SubjectAccessReview for verb get checks, so
// that writing an Experiment never lets its author read an object they
// could not read themselves.
type Object struct {
	// Kind is the object's group, version and kind.
	Kind schema.GroupVersionKind
	// Resource is the kind's plural resource name, such as
	// "prometheusservicelevels".
	Resource string
	// Namespace and Name locate the object.
	Namespace, Name string
}

// Access returns the object ref reads, in ref's namespace if it names one,
// else in defaultNamespace (the Experiment's).
func Access(ref chaosv1alpha1.SLORef, defaultNamespace string) (Object, error) {
	pick := func(ns string) string {
		if ns != "" {
			return ns
		}
		return defaultNamespace
	}
	switch {
	case ref.Sloth != nil:
		return Object{Kind: SlothKind, Resource: "prometheusservicelevels", Namespace: pick(ref.Sloth.Namespace), Name: ref.Sloth.Name}, nil
	case ref.Pyrra != nil:
		return Object{Kind: PyrraKind, Resource: "servicelevelobjectives", Namespace: pick(ref.Pyrra.Namespace), Name: ref.Pyrra.Name}, nil
	case ref.OpenSLO != nil:
		return Object{Kind: ConfigMapKind, Resource: "configmaps", Namespace: pick(ref.OpenSLO.Namespace), Name: ref.OpenSLO.ConfigMap}, nil
	}
	return Object{}, errors.New("the slo reference names no SLO; set one of sloth, pyrra or openSLO, such as sloth: {name: checkout, slo: requests-availability}")
}
