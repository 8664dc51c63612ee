package webhooks

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// CheckExperimentOffline returns what the Experiment admission webhook
// would refuse in raw (an Experiment as JSON) as far as that needs no
// cluster: the run-now annotation, control characters, cron and time zone,
// windows and whether the schedule ever falls inside them (from now), label
// selectors, names, PromQL, alert names and the provider address's form.
// Whether the ChaosPolicy allows the address, and whether the requester
// holds the rights the runs use, are the cluster's to say. Each problem is
// a field error, as the webhook's refusal lists it: the field's path, the
// value and what to write instead; none means nothing was found. err means
// raw cannot be read as an Experiment at all.
func CheckExperimentOffline(raw []byte, namespace string, now time.Time) (field.ErrorList, error) {
	var errs field.ErrorList
	if meta, err := decodeMeta(raw); err == nil {
		errs = runNowErrors(nil, meta.Annotations)
	}
	errs = append(errs, specControls(raw)...)
	if len(errs) > 0 {
		// Every later message would quote the same characters again.
		return shortValues(errs), nil
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(raw, exp); err != nil {
		return nil, fmt.Errorf("the Experiment cannot be read (%v): fix the field named", err)
	}
	errs = validateExperimentSpec(&exp.Spec, namespace)
	if len(errs) == 0 {
		errs = validateScheduleInWindows(&exp.Spec, now)
	}
	if prov := exp.Spec.Provider; prov != nil && prov.Prometheus != nil {
		if e := addressFormError(prov.Prometheus.Address); e != nil {
			errs = append(errs, e)
		}
	}
	return shortValues(errs), nil
}

// CheckChaosPolicyOffline returns what the ChaosPolicy admission webhook
// would refuse in raw (a ChaosPolicy as JSON).
func CheckChaosPolicyOffline(raw []byte) (field.ErrorList, error) {
	if errs := specControls(raw); len(errs) > 0 {
		return shortValues(errs), nil
	}
	pol := &chaosv1alpha1.ChaosPolicy{}
	if err := json.Unmarshal(raw, pol); err != nil {
		return nil, fmt.Errorf("the ChaosPolicy cannot be read (%v): fix the field named", err)
	}
	return shortValues(validatePolicySpec(&pol.Spec)), nil
}

// CheckRunOffline returns what the ExperimentRun admission webhook would
// refuse in raw (a new ExperimentRun as JSON) as far as that needs no
// cluster: approvals given at creation, control characters, the form of
// the Experiment's name and of the scheduled-at annotation. Whether the
// requester may run the Experiment is the cluster's to say.
func CheckRunOffline(raw []byte, namespace string) (field.ErrorList, error) {
	var run runFields
	if err := json.Unmarshal(raw, &run); err != nil {
		return nil, fmt.Errorf("the ExperimentRun cannot be read (%v): fix the field named", err)
	}
	errs := newRunErrors(raw, &run, namespace)
	return shortValues(append(errs, scheduledAtErrors(run.Metadata.Annotations)...)), nil
}

// newRunErrors are the problems of a new run that its own fields show.
func newRunErrors(raw []byte, run *runFields, namespace string) field.ErrorList {
	var errs field.ErrorList
	ann := run.Metadata.Annotations
	for _, k := range []string{chaosv1alpha1.ApprovedAnnotation, chaosv1alpha1.ApprovedByAnnotation, chaosv1alpha1.ApprovedSpecAnnotation} {
		if _, ok := ann[k]; ok {
			errs = append(errs, field.Forbidden(annotationsPath.Key(k), "an approval cannot be given when the run is created; remove the annotation, and "+approveHint))
		}
	}
	for _, k := range []string{chaosv1alpha1.SpecHashAnnotation, chaosv1alpha1.SpecAuthorAnnotation} {
		if _, ok := ann[k]; ok {
			errs = append(errs, field.Forbidden(annotationsPath.Key(k), "is written by the operator when the run takes its snapshot of the Experiment and cannot be set by hand: remove it"))
		}
	}
	errs = append(errs, specControls(raw)...)
	errs = append(errs, annotationControls(nil, ann, chaosv1alpha1.AbortAnnotation)...)
	if name := run.Spec.ExperimentRef.Name; name != "" && len(errs) == 0 {
		if why := dnsSubdomain(name); why != "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "experimentRef", "name"), name,
				fmt.Sprintf("is not a valid Experiment name (%s): write the name of an Experiment in namespace %s", why, namespace)))
		}
	}
	return errs
}
