// Package access asks the API server, by SubjectAccessReview, the question
// experiments/rights poses for the admission webhooks and the run
// controller alike: may the user who asked for an Experiment or run do by
// hand, with their own rights, everything the run would make Faultline do?
// Faultline holds broad rights (delete pods, patch nodes and
// VirtualServices); without this check any namespace user could reach
// through it into namespaces and nodes they cannot touch themselves.
package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// Checker asks the API server, by SubjectAccessReview, whether a requester
// holds the rights a spec needs.
type Checker struct {
	// Client creates SubjectAccessReviews.
	Client client.Client
	// Timeout bounds each review; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds one SubjectAccessReview.
const DefaultTimeout = 5 * time.Second

// maxConcurrentReviews is how many SubjectAccessReviews one check has in
// flight at once: enough that a spec with 64 target namespaces costs a few
// round trips rather than 130 in a row (the API server gives the webhook
// only timeoutSeconds in all), few enough that one admission request cannot
// crowd the API server.
const maxConcurrentReviews = 8

// CheckExperiment returns nil when req may do by hand everything spec would
// make a run in namespace ns do (the rights Required lists); otherwise an
// error wrapping one *rights.Denied per missing right (errors.Join, in the order of
// Required), or a transient error from the API server.
//
// When some reviews are denied and others fail, the denials are returned
// alone: they are a definite answer, and the failed reviews are asked again
// on the next attempt, after the requester has been granted what is missing.
func (c *Checker) CheckExperiment(ctx context.Context, req rights.Requester, ns string, spec *chaosv1alpha1.ExperimentSpec) error {
	if req.Username == "" {
		return rights.ErrNoRequester
	}
	if spec == nil {
		return errors.New("access: no Experiment spec to check")
	}
	checks := rights.Required(ns, spec)
	if len(checks) > rights.MaxChecks {
		return fmt.Errorf("%w: %d, more than %d; target fewer namespaces or probe fewer workloads", rights.ErrTooManyChecks, len(checks), rights.MaxChecks)
	}
	return c.review(ctx, req, checks)
}

// CheckApprove returns nil when req holds the approve verb on the run
// ns/name (resource experimentruns of chaos.faultline.dev), else a *rights.Denied,
// or a transient error from the API server.
//
// approve is a verb of its own, as the API server's CertificateSigningRequest
// approval uses "approve" on signers: the right to update a run (which its
// requester needs to annotate or abort it) must not be the right to approve
// it. An administrator grants it with a Role in the run's namespace (or a
// ClusterRole) holding the rule
//
//	rules:
//	- apiGroups: [chaos.faultline.dev]
//	  resources: [experimentruns]
//	  verbs: [approve]
//
// optionally narrowed with resourceNames, and a RoleBinding to the approvers.
// The approver also needs update or patch on experimentruns to set the
// chaos.faultline.dev/approved annotation. A rule with verbs ["*"] on
// experimentruns includes approve, so requesters are given explicit verbs.
func (c *Checker) CheckApprove(ctx context.Context, req rights.Requester, ns, name string) error {
	if req.Username == "" {
		return rights.ErrNoRequester
	}
	return c.review(ctx, req, []rights.Check{rights.ApproveCheck(ns, name)})
}

// CheckStartRun returns nil when req may create ExperimentRuns in ns, else a
// *rights.Denied, or a transient error from the API server. Starting a run by any
// path (creating an ExperimentRun, the run-now annotation, a schedule)
// needs this right of whoever asked: without it, a user RBAC keeps from
// creating runs could start them anyway by annotating an Experiment.
func (c *Checker) CheckStartRun(ctx context.Context, req rights.Requester, ns string) error {
	if req.Username == "" {
		return rights.ErrNoRequester
	}
	return c.review(ctx, req, []rights.Check{rights.StartRunCheck(ns)})
}

// review asks the API server about every check, at most
// maxConcurrentReviews at a time, and combines the answers.
func (c *Checker) review(ctx context.Context, req rights.Requester, checks []rights.Check) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// One slot per check, written by exactly one goroutine: the result keeps
	// the order of checks whatever order the answers arrive in.
	denied := make([]*rights.Denied, len(checks))
	failed := make([]error, len(checks))
	sem := make(chan struct{}, maxConcurrentReviews)
	var wg sync.WaitGroup
	for i := range checks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			failed[i] = fmt.Errorf("checking whether user %q may %s: %w", req.Username, checks[i].Describe(), ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			allowed, err := c.allowed(ctx, timeout, req, checks[i])
			switch {
			case err != nil:
				failed[i] = err
			case !allowed:
				denied[i] = checks[i].Denial(req.Username)
			}
		})
	}
	wg.Wait()

	var denials []error
	for _, d := range denied {
		if d != nil {
			denials = append(denials, d)
		}
	}
	switch len(denials) {
	case 0:
	case 1:
		// Bare, so a single refusal is the *rights.Denied itself.
		return denials[0]
	default:
		return errors.Join(denials...)
	}
	for _, err := range failed {
		if err != nil {
			// The first failure stands for the others: they share a cause
			// (the API server is slow or down) and the caller retries.
			return err
		}
	}
	return nil
}

// allowed asks one SubjectAccessReview.
func (c *Checker) allowed(ctx context.Context, timeout time.Duration, req rights.Requester, check rights.Check) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sar := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   check.Namespace,
				Verb:        check.Verb,
				Group:       check.Group,
				Resource:    check.Resource,
				Subresource: check.Subresource,
				Name:        check.Name,
			},
			User:   req.Username,
			UID:    req.UID,
			Groups: req.Groups,
			Extra:  extra(req.Extra),
		},
	}
	if err := c.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("checking whether user %q may %s: %w", req.Username, check.Describe(), err)
	}
	return sar.Status.Allowed, nil
}

func extra(in map[string][]string) map[string]authorizationv1.ExtraValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]authorizationv1.ExtraValue, len(in))
	for k, v := range in {
		out[k] = authorizationv1.ExtraValue(v)
	}
	return out
}
