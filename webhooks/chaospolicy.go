package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

// policyValidator refuses a ChaosPolicy whose guardrails could not be read
// as written: a selector, address or window the controllers would have to
// treat as "nothing allowed" or "always blacked out" at run time.
type policyValidator struct{}

// Handle implements admission.Handler.
func (v *policyValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	switch req.Operation {
	case admissionv1.Create:
	case admissionv1.Update:
		if !policySpecChanged(req.OldObject.Raw, req.Object.Raw) {
			// Flipping the kill switch, or any metadata change, is never
			// refused over the rest of the spec: stopping every run must
			// work even when the stored policy predates a rule.
			return admission.Allowed("")
		}
	default:
		return admission.Allowed("")
	}
	if errs := specControls(req.Object.Raw); len(errs) > 0 {
		return invalid(req, errs)
	}
	pol := &chaosv1alpha1.ChaosPolicy{}
	if err := json.Unmarshal(req.Object.Raw, pol); err != nil {
		return badRequest(fmt.Sprintf("the ChaosPolicy cannot be read (%v): fix the field named and apply it again", err))
	}
	return invalid(req, validatePolicySpec(&pol.Spec))
}

func validatePolicySpec(spec *chaosv1alpha1.ChaosPolicySpec) field.ErrorList {
	specPath := field.NewPath("spec")
	var errs field.ErrorList
	if spec.NamespaceSelector != nil {
		errs = append(errs, validateSelector(spec.NamespaceSelector, specPath.Child("namespaceSelector"))...)
	}
	for i, ns := range spec.ProtectedNamespaces {
		if why := dnsLabel(ns); why != "" {
			errs = append(errs, field.Invalid(specPath.Child("protectedNamespaces").Index(i), ns,
				fmt.Sprintf("is not a valid namespace name (%s): write a namespace such as kube-system", why)))
		}
	}
	addresses := specPath.Child("allowedProviderAddresses")
	seen := map[string]int{}
	for i, a := range spec.AllowedProviderAddresses {
		path := addresses.Index(i)
		if err := policy.ValidateAllowedAddress(a); err != nil {
			errs = append(errs, field.Invalid(path, a, addressDetail(a, err)))
			continue
		}
		key := addressKey(a)
		if first, dup := seen[key]; dup {
			e := field.Duplicate(path, a)
			e.Detail = fmt.Sprintf("allows the same server and path as %s: remove one of them", addresses.Index(first))
			errs = append(errs, e)
			continue
		}
		seen[key] = i
	}
	return append(errs, schedule.BlackoutErrors(spec.BlackoutWindows, specPath.Child("blackoutWindows"))...)
}

// addressKey is an allowed address reduced to what policy.ProviderAllowed
// compares, its normalised form, so entries that differ only in case, an
// explicit default port, doubled or trailing slashes or encoded unreserved
// characters count as duplicates.
func addressKey(a string) string {
	n, err := policy.NormalizeAddress(a)
	if err != nil {
		return a
	}
	return n.String()
}

// policySpecChanged reports whether an update changes anything of the
// ChaosPolicy's spec other than paused.
func policySpecChanged(oldRaw, newRaw []byte) bool {
	strip := func(raw []byte) (any, bool) {
		spec, err := rawSpec(raw)
		if err != nil {
			return nil, false
		}
		v, err := decodeGeneric(nullIfEmpty(spec))
		if err != nil {
			return nil, false
		}
		if m, ok := v.(map[string]any); ok {
			delete(m, "paused")
			if len(m) == 0 {
				return nil, true
			}
		}
		return v, true
	}
	o, okOld := strip(oldRaw)
	n, okNew := strip(newRaw)
	if !okOld || !okNew {
		return true
	}
	return !reflect.DeepEqual(o, n)
}
