package webhooks

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// statusValidator keeps the status of Experiments, runs and the ChaosPolicy
// the operator's own record. The status subresource is outside RBAC's
// reach for most grants (any rule on resources ["*"] includes
// experimentruns/status), and a run's status holds the spec snapshot it
// injects and the targets it reverts: a user who could write it could drop
// the approval a spec requires or point a revert at any object. Every
// writer but the operator is refused. The webhook configuration's
// matchConditions leave the operator's own writes out altogether, so the
// operator never waits on its own webhook to record a run.
type statusValidator struct {
	operatorUsername string
}

// Handle implements admission.Handler.
func (v *statusValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.SubResource != "status" || isOperator(req, v.operatorUsername) {
		return admission.Allowed("")
	}
	// Refused over who writes, whatever is written: Forbidden, as RBAC
	// would if it could tell the operator apart.
	return forbidden(req, fmt.Sprintf("the status of %s %s is written only by the Faultline operator (%s), which records there what a run did and what it must revert; user %q may not write it: change the spec or annotations instead (kubectl faultline abort, approve)",
		req.Kind.Kind, req.Name, v.operatorUsername, req.UserInfo.Username))
}
