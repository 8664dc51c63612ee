package webhooks

import (
	"encoding/json"
	"fmt"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
)

// CheckExperimentOffline returns what the Experiment admission webhook
// would refuse in raw (an Experiment as JSON) as far as that needs no
// cluster: the run-now annotation, control characters, cron and time zone,
// windows and whether the schedule ever falls inside them (from now), label
// selectors, names, PromQL, alert names and the provider address's form. Whether the
// ChaosPolicy allows the address, and whether the requester holds the
// rights the runs use, are the cluster's to say. Each problem names its
// field and what to write instead; none means nothing was found.
func CheckExperimentOffline(raw []byte, namespace string, now time.Time) []string {
	var p problems
	if meta, err := decodeMeta(raw); err == nil {
		runNowProblems(&p, nil, meta.Annotations)
	}
	specControls(&p, raw)
	if len(p) > 0 {
		// Every later message would quote the same characters again.
		return p
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(raw, exp); err != nil {
		return []string{fmt.Sprintf("the Experiment cannot be read (%v): fix the field named", err)}
	}
	validateExperimentSpec(&p, &exp.Spec, namespace)
	if len(p) == 0 {
		validateScheduleInWindows(&p, &exp.Spec, now)
	}
	if prov := exp.Spec.Provider; prov != nil && prov.Prometheus != nil {
		if err := policy.ValidateAddress(prov.Prometheus.Address); err != nil {
			p.addf("spec.provider.prometheus.address: %v", err)
		}
	}
	return p
}

// CheckChaosPolicyOffline returns what the ChaosPolicy admission webhook
// would refuse in raw (a ChaosPolicy as JSON).
func CheckChaosPolicyOffline(raw []byte) []string {
	var p problems
	specControls(&p, raw)
	if len(p) > 0 {
		return p
	}
	pol := &chaosv1alpha1.ChaosPolicy{}
	if err := json.Unmarshal(raw, pol); err != nil {
		return []string{fmt.Sprintf("the ChaosPolicy cannot be read (%v): fix the field named", err)}
	}
	validatePolicySpec(&p, &pol.Spec)
	return p
}

// CheckRunOffline returns what the ExperimentRun admission webhook would
// refuse in raw (a new ExperimentRun as JSON) as far as that needs no
// cluster: approvals given at creation, control characters, the form of
// the Experiment's name and of the scheduled-at annotation. Whether the requester may run the Experiment is
// the cluster's to say.
func CheckRunOffline(raw []byte, namespace string) []string {
	var run runFields
	if err := json.Unmarshal(raw, &run); err != nil {
		return []string{fmt.Sprintf("the ExperimentRun cannot be read (%v): fix the field named", err)}
	}
	p := newRunProblems(raw, &run, namespace)
	scheduledAtProblems(&p, run.Metadata.Annotations)
	return p
}

// newRunProblems are the problems of a new run that its own fields show.
func newRunProblems(raw []byte, run *runFields, namespace string) problems {
	var p problems
	ann := run.Metadata.Annotations
	for _, k := range []string{chaosv1alpha1.ApprovedAnnotation, chaosv1alpha1.ApprovedByAnnotation, chaosv1alpha1.ApprovedSpecAnnotation} {
		if _, ok := ann[k]; ok {
			p.addf("metadata.annotations[%s]: an approval cannot be given when the run is created; remove the annotation, and %s", k, approveHint)
		}
	}
	for _, k := range []string{chaosv1alpha1.SpecHashAnnotation, chaosv1alpha1.SpecAuthorAnnotation} {
		if _, ok := ann[k]; ok {
			p.addf("metadata.annotations[%s] is written by the operator when the run takes its snapshot of the Experiment and cannot be set by hand: remove it", k)
		}
	}
	specControls(&p, raw)
	annotationControls(&p, nil, ann, chaosv1alpha1.AbortAnnotation)
	if name := run.Spec.ExperimentRef.Name; name != "" && len(p) == 0 {
		if why := dnsSubdomain(name); why != "" {
			p.addf("spec.experimentRef.name %s is not a valid Experiment name (%s): write the name of an Experiment in namespace %s", quote(name), why, namespace)
		}
	}
	return p
}
