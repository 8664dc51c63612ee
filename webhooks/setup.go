// Package webhooks holds Faultline's admission webhooks for Experiments,
// ExperimentRuns and the ChaosPolicy: mutating webhooks that record who
// asked for an Experiment or run, and who approved a run, where only they
// can write, and validating webhooks that refuse what the CRD schema cannot
// check (cron, time zones, windows, PromQL, label selectors, provider
// addresses and the allow-list, control characters), approvals given at
// creation or by the requester, and what the requester may not do. Every
// refusal leads with the problem and says what to write instead: a problem
// of the object is a field error on its path in a 422 Invalid status (as
// the API server's own validation answers, so kubectl prints
// "spec.schedule: Invalid value: ..."), and a refusal over who asks is a
// 403 Forbidden, as RBAC's.
package webhooks

import (
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/faultline-dev/faultline/internal/access"
)

// Experiments and runs fail closed (failurePolicy Fail): without the
// webhook nobody records whose rights a run acts with, and anything could
// be stored. Only CREATE and UPDATE are intercepted, never DELETE, so an
// object can always be deleted, webhook or not.
//
// Status fails closed too: only the operator writes it, and its own writes
// never reach the webhook (a matchCondition on its user name), so the
// webhook being down stops nobody who may write status.
//
// The ChaosPolicy fails open (failurePolicy Ignore): it holds the kill
// switch, and an administrator must be able to set spec.paused when the
// operator, which serves these webhooks, is down or crash-looping. The
// controllers treat a policy they cannot read as allowing nothing.
//
// reinvocationPolicy IfNeeded runs the mutators again if a later mutating
// webhook changes the object, so the records they write are the last word.

// +kubebuilder:webhook:path=/mutate-chaos-faultline-dev-v1alpha1-experiment,mutating=true,failurePolicy=fail,sideEffects=None,groups=chaos.faultline.dev,resources=experiments,verbs=create;update,versions=v1alpha1,name=mexperiment.chaos.faultline.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=15
// +kubebuilder:webhook:path=/mutate-chaos-faultline-dev-v1alpha1-experimentrun,mutating=true,failurePolicy=fail,sideEffects=None,groups=chaos.faultline.dev,resources=experimentruns,verbs=create;update,versions=v1alpha1,name=mexperimentrun.chaos.faultline.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=15
// +kubebuilder:webhook:path=/validate-chaos-faultline-dev-v1alpha1-experiment,mutating=false,failurePolicy=fail,sideEffects=None,groups=chaos.faultline.dev,resources=experiments,verbs=create;update,versions=v1alpha1,name=vexperiment.chaos.faultline.dev,admissionReviewVersions=v1,timeoutSeconds=15
// +kubebuilder:webhook:path=/validate-chaos-faultline-dev-v1alpha1-experimentrun,mutating=false,failurePolicy=fail,sideEffects=None,groups=chaos.faultline.dev,resources=experimentruns,verbs=create;update,versions=v1alpha1,name=vexperimentrun.chaos.faultline.dev,admissionReviewVersions=v1,timeoutSeconds=15
// +kubebuilder:webhook:path=/validate-chaos-faultline-dev-v1alpha1-status,mutating=false,failurePolicy=fail,sideEffects=None,groups=chaos.faultline.dev,resources=experimentruns/status;experiments/status;chaospolicies/status,verbs=update,versions=v1alpha1,name=vstatus.chaos.faultline.dev,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-chaos-faultline-dev-v1alpha1-chaospolicy,mutating=false,failurePolicy=ignore,sideEffects=None,groups=chaos.faultline.dev,resources=chaospolicies,verbs=create;update,versions=v1alpha1,name=vchaospolicy.chaos.faultline.dev,admissionReviewVersions=v1,timeoutSeconds=5

// Paths the webhooks are served on; config/webhook/manifests.yaml points
// the API server at them.
const (
	MutateExperimentPath      = "/mutate-chaos-faultline-dev-v1alpha1-experiment"
	MutateExperimentRunPath   = "/mutate-chaos-faultline-dev-v1alpha1-experimentrun"
	ValidateExperimentPath    = "/validate-chaos-faultline-dev-v1alpha1-experiment"
	ValidateExperimentRunPath = "/validate-chaos-faultline-dev-v1alpha1-experimentrun"
	ValidateChaosPolicyPath   = "/validate-chaos-faultline-dev-v1alpha1-chaospolicy"
	ValidateStatusPath        = "/validate-chaos-faultline-dev-v1alpha1-status"
)

// Options configure the webhooks.
type Options struct {
	// OperatorUsername is the operator's own user name; runs it creates act with their Experiment's recorded requester.
	OperatorUsername string
	// Access checks requesters' rights by SubjectAccessReview; nil disables the rights checks (tests of other rules only).
	Access *access.Checker
	// Recorder emits an Event on a run for every approval accepted or refused; nil emits none.
	Recorder events.EventRecorder
	// ObserveApproval counts approvals by outcome (ApprovalApproved, ApprovalRefused); nil counts none.
	ObserveApproval func(result string)
}

// Setup registers every Faultline webhook on mgr's webhook server.
func Setup(mgr ctrl.Manager, opts Options) error {
	// Experiments and the ChaosPolicy are read live, never through the
	// manager's cache: a typed informer stops syncing when one stored
	// Experiment cannot be decoded, and admission must not wait on it.
	reader := mgr.GetAPIReader()
	srv := mgr.GetWebhookServer()
	srv.Register(MutateExperimentPath, &webhook.Admission{Handler: &experimentMutator{}})
	srv.Register(MutateExperimentRunPath, &webhook.Admission{Handler: &runMutator{operatorUsername: opts.OperatorUsername, reader: reader}})
	srv.Register(ValidateExperimentPath, &webhook.Admission{Handler: &experimentValidator{reader: reader, access: opts.Access, clock: clock.RealClock{}}})
	srv.Register(ValidateExperimentRunPath, &webhook.Admission{Handler: &runValidator{
		operatorUsername: opts.OperatorUsername, reader: reader, access: opts.Access,
		approvals: approvalRecorder{recorder: opts.Recorder, observe: opts.ObserveApproval},
	}})
	srv.Register(ValidateChaosPolicyPath, &webhook.Admission{Handler: &policyValidator{}})
	srv.Register(ValidateStatusPath, &webhook.Admission{Handler: &statusValidator{operatorUsername: opts.OperatorUsername}})
	return nil
}
