package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	slothv1 "github.com/slok/sloth/pkg/kubernetes/api/sloth/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/slo"
)

// Why an SLO reference could not be resolved. Each is a mistake to correct
// in the cluster or the Experiment, not a passing failure: retrying will not
// help until someone acts. Any other error ResolveSLO returns (a timeout,
// a refused connection, Forbidden) is the API server's.
var (
	// ErrSLOKindNotInstalled: the API server does not serve the kind, as
	// when Sloth's or Pyrra's CRD is not installed.
	ErrSLOKindNotInstalled = errors.New("SLO kind not installed")
	// ErrSLONotFound: the object, the ConfigMap key, or the SLO inside
	// them does not exist.
	ErrSLONotFound = errors.New("SLO not found")
	// ErrSLOInvalid: the SLO exists but Faultline cannot derive a query
	// from it.
	ErrSLOInvalid = errors.New("SLO cannot be used")
)

// ResolveSLO reads the object ref names and derives its SLI. The object is
// in ref's namespace, else in namespace (the Experiment's). Sloth's and
// Pyrra's objects are read as unstructured objects of their kind, so the
// operator needs neither project's types in its scheme, and decoded into
// the types package slo reads; OpenSLO documents come from a ConfigMap, from
// ref's key or, without one, from whichever key holds the SLO.
//
// r should read straight from the API server (the manager's API reader):
// the operator may only get these objects, so an informer for them would
// never sync.
func ResolveSLO(ctx context.Context, r client.Reader, namespace string, ref chaosv1alpha1.SLORef) (slo.SLI, error) {
	obj, err := slo.Access(ref, namespace)
	if err != nil {
		return slo.SLI{}, fmt.Errorf("%w: %w", ErrSLOInvalid, err)
	}
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	switch {
	case ref.Sloth != nil:
		var psl slothv1.PrometheusServiceLevel
		if err := getSLOObject(ctx, r, obj, key, "slo.sloth", &psl); err != nil {
			return slo.SLI{}, err
		}
		sli, err := slo.FromSloth(&psl, ref.Sloth.SLO)
		return sli, sloError(err)
	case ref.Pyrra != nil:
		var objective slo.PyrraServiceLevelObjective
		if err := getSLOObject(ctx, r, obj, key, "slo.pyrra", &objective); err != nil {
			return slo.SLI{}, err
		}
		sli, err := slo.FromPyrra(&objective)
		return sli, sloError(err)
	default:
		return resolveOpenSLO(ctx, r, key, *ref.OpenSLO)
	}
}

// getSLOObject reads the object of kind obj.Kind at key into out, telling a
// kind the API server does not serve from an object that does not exist.
func getSLOObject(ctx context.Context, r client.Reader, obj slo.Object, key types.NamespacedName, field string, out any) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(obj.Kind)
	err := r.Get(ctx, key, u)
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%w: the API server serves no %s %s; install its CRD (%s.%s), or reference the SLO another way", ErrSLOKindNotInstalled, obj.Kind.GroupVersion(), obj.Kind.Kind, obj.Resource, obj.Kind.Group)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s %s does not exist; create it, or correct %s.name and %s.namespace", ErrSLONotFound, obj.Kind.Kind, key, field, field)
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", obj.Kind.Kind, key, err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return fmt.Errorf("%w: %s %s does not decode as a %s: %v", ErrSLOInvalid, obj.Kind.Kind, key, obj.Kind.GroupVersion(), err)
	}
	return nil
}

// resolveOpenSLO reads the ConfigMap of ref and derives the SLI of the SLO
// document ref names.
func resolveOpenSLO(ctx context.Context, r client.Reader, key types.NamespacedName, ref chaosv1alpha1.OpenSLORef) (slo.SLI, error) {
	var cm corev1.ConfigMap
	err := r.Get(ctx, key, &cm)
	switch {
	case apierrors.IsNotFound(err):
		return slo.SLI{}, fmt.Errorf("%w: ConfigMap %s does not exist; create it with the OpenSLO documents, or correct slo.openSLO.configMap and namespace", ErrSLONotFound, key)
	case err != nil:
		return slo.SLI{}, fmt.Errorf("reading ConfigMap %s: %w", key, err)
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	where := func(k string) string { return fmt.Sprintf("ConfigMap %s, key %s", key, k) }

	if ref.Key != "" {
		data, ok := cm.Data[ref.Key]
		if !ok {
			return slo.SLI{}, fmt.Errorf("%w: ConfigMap %s has no key %s in its data; it has: %s", ErrSLONotFound, key, ref.Key, strings.Join(keys, ", "))
		}
		sli, err := slo.FromOpenSLO([]byte(data), ref.Name)
		if err != nil {
			return slo.SLI{}, fmt.Errorf("%s: %w", where(ref.Key), sloError(err))
		}
		sli.Source += " in " + where(ref.Key)
		return sli, nil
	}

	// Without a key, the SLO may be in any; keys that are not YAML, or do
	// not hold it, are passed over, but an SLO that is there and cannot be
	// used is reported rather than hidden behind "not found".
	var found []string
	var sli slo.SLI
	for _, k := range keys {
		s, err := slo.FromOpenSLO([]byte(cm.Data[k]), ref.Name)
		switch {
		case errors.Is(err, slo.ErrNotFound), errors.Is(err, slo.ErrUnreadable):
			continue
		case err != nil:
			return slo.SLI{}, fmt.Errorf("%s: %w", where(k), sloError(err))
		}
		found = append(found, k)
		sli = s
		sli.Source += " in " + where(k)
	}
	switch len(found) {
	case 0:
		return slo.SLI{}, fmt.Errorf("%w: no key of ConfigMap %s holds an openslo/v1 SLO document named %q (keys: %s); add it, or set slo.openSLO.key", ErrSLONotFound, key, ref.Name, strings.Join(keys, ", "))
	case 1:
		return sli, nil
	}
	return slo.SLI{}, fmt.Errorf("%w: keys %s of ConfigMap %s each hold an SLO named %q; set slo.openSLO.key to the one meant", ErrSLOInvalid, strings.Join(found, " and "), key, ref.Name)
}

// sloError classifies an error of package slo: no SLO of the name, or one
// that cannot be used.
func sloError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, slo.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrSLONotFound, err)
	}
	return fmt.Errorf("%w: %w", ErrSLOInvalid, err)
}
