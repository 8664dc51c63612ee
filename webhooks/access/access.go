// Package access answers one question for the admission webhooks and the run
// controller alike: may the user who asked for an Experiment or run do by
// hand, with their own rights, everything the run would make Faultline do?
// Faultline holds broad rights (delete pods, patch nodes and
// VirtualServices); without this check any namespace user could reach
// through it into namespaces and nodes they cannot touch themselves.
package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Requester is who asked for an Experiment or run, as the admission request
// named them. It is stored as JSON in chaos.faultline.dev/requested-by.
type Requester struct {
	// Username as the API server authenticated it.
	Username string `json:"username"`
	// UID of the user, when the authenticator gives one.
	UID string `json:"uid,omitempty"`
	// Groups the user belongs to.
	Groups []string `json:"groups,omitempty"`
	// Extra holds the authenticator's extra attributes (scopes and the like).
	Extra map[string][]string `json:"extra,omitempty"`
}

// FromUserInfo is the Requester of an admission request's user.
func FromUserInfo(u authenticationv1.UserInfo) Requester {
	r := Requester{Username: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		r.Extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			r.Extra[k] = []string(v)
		}
	}
	return r
}

// Annotation is r as the value of chaos.faultline.dev/requested-by.
func (r Requester) Annotation() string {
	b, err := json.Marshal(r)
	if err != nil {
		// A struct of strings always marshals.
		panic(err)
	}
	return string(b)
}

// ErrNoRequester means an object carries no recorded requester: it was stored
// while the admission webhook was not in place, so whose rights it would act
// with is unknown.
var ErrNoRequester = errors.New("no requester is recorded (annotation " + chaosv1alpha1.RequestedByAnnotation + "); the object was stored without Faultline's admission webhook: create it again")

// RequesterOf reads the recorded requester of obj.
func RequesterOf(obj metav1.Object) (Requester, error) {
	v, ok := obj.GetAnnotations()[chaosv1alpha1.RequestedByAnnotation]
	if !ok || v == "" {
		return Requester{}, ErrNoRequester
	}
	var r Requester
	if err := json.Unmarshal([]byte(v), &r); err != nil || r.Username == "" {
		return Requester{}, fmt.Errorf("annotation %s does not hold a requester: create the object again", chaosv1alpha1.RequestedByAnnotation)
	}
	return r, nil
}

// Denied is a right the requester lacks. Its message names the user, verb,
// resource and namespace, so the refusal says what to ask an administrator for.
type Denied struct {
	User        string
	Verb        string
	Group       string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	// Why says what Faultline would have done with the right.
	Why string
}

// Error implements error.
func (d *Denied) Error() string {
	res := d.Resource
	if d.Subresource != "" {
		res += "/" + d.Subresource
	}
	if d.Group != "" {
		res += "." + d.Group
	}
	where := "cluster-wide"
	if d.Namespace != "" {
		where = "in namespace " + d.Namespace
	}
	obj := ""
	if d.Name != "" {
		obj = " " + d.Name
	}
	msg := fmt.Sprintf("user %q may not %s %s%s %s", d.User, d.Verb, res, obj, where)
	if d.Why != "" {
		msg += " (" + d.Why + ")"
	}
	return msg + "; Faultline acts only with its requester's own rights"
}

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

// MaxChecks bounds the rights one spec may need checked. The schema bounds
// target namespaces and probes well below it (64 namespaces of two rights
// each, 32 workload probes, one Secret); the cap stops an object stored
// before those bounds, or around the schema, from making every admission
// request or run start fan out into thousands of reviews.
const MaxChecks = 256

// maxConcurrentReviews is how many SubjectAccessReviews one check has in
// flight at once: enough that a spec with 64 target namespaces costs a few
// round trips rather than 130 in a row (the API server gives the webhook
// only timeoutSeconds in all), few enough that one admission request cannot
// crowd the API server.
const maxConcurrentReviews = 8

// ErrTooManyChecks means a spec needs more than MaxChecks rights checked.
// It is a property of the spec, not of the API server: retrying does not
// help, and the spec has to be made smaller.
var ErrTooManyChecks = errors.New("the spec needs too many rights checked")

// IsDenied reports whether err holds at least one *Denied: the requester
// lacks a right, as opposed to the API server failing to answer.
func IsDenied(err error) bool {
	return errors.As(err, new(*Denied))
}

// CheckExperiment returns nil when req may do by hand everything spec would
// make a run in namespace ns do (the rights Required lists); otherwise an
// error wrapping one *Denied per missing right (errors.Join, in the order of
// Required), or a transient error from the API server.
//
// When some reviews are denied and others fail, the denials are returned
// alone: they are a definite answer, and the failed reviews are asked again
// on the next attempt, after the requester has been granted what is missing.
func (c *Checker) CheckExperiment(ctx context.Context, req Requester, ns string, spec *chaosv1alpha1.ExperimentSpec) error {
	if req.Username == "" {
		return ErrNoRequester
	}
	if spec == nil {
		return errors.New("access: no Experiment spec to check")
	}
	checks := Required(ns, spec)
	if len(checks) > MaxChecks {
		return fmt.Errorf("%w: %d, more than %d; target fewer namespaces or probe fewer workloads", ErrTooManyChecks, len(checks), MaxChecks)
	}
	return c.review(ctx, req, checks)
}

// CheckApprove returns nil when req holds the approve verb on the run
// ns/name (resource experimentruns of chaos.faultline.dev), else a *Denied,
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
func (c *Checker) CheckApprove(ctx context.Context, req Requester, ns, name string) error {
	if req.Username == "" {
		return ErrNoRequester
	}
	return c.review(ctx, req, []Check{{
		Verb:      "approve",
		Group:     chaosv1alpha1.GroupVersion.Group,
		Resource:  "experimentruns",
		Namespace: ns,
		Name:      name,
		Why:       "approving a run lets its fault be injected",
	}})
}

// CheckStartRun returns nil when req may create ExperimentRuns in ns, else a
// *Denied, or a transient error from the API server. Starting a run by any
// path (creating an ExperimentRun, the run-now annotation, a schedule)
// needs this right of whoever asked: without it, a user RBAC keeps from
// creating runs could start them anyway by annotating an Experiment.
func (c *Checker) CheckStartRun(ctx context.Context, req Requester, ns string) error {
	if req.Username == "" {
		return ErrNoRequester
	}
	return c.review(ctx, req, []Check{StartRunCheck(ns)})
}

// StartRunCheck is the right to start a run in ns: create on experimentruns.
func StartRunCheck(ns string) Check {
	return Check{
		Verb:      "create",
		Group:     chaosv1alpha1.GroupVersion.Group,
		Resource:  "experimentruns",
		Namespace: ns,
		Why:       "starting a run, by any path, needs the right to create ExperimentRuns",
	}
}

// review asks the API server about every check, at most
// maxConcurrentReviews at a time, and combines the answers.
func (c *Checker) review(ctx context.Context, req Requester, checks []Check) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// One slot per check, written by exactly one goroutine: the result keeps
	// the order of checks whatever order the answers arrive in.
	denied := make([]*Denied, len(checks))
	failed := make([]error, len(checks))
	sem := make(chan struct{}, maxConcurrentReviews)
	var wg sync.WaitGroup
	for i := range checks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			failed[i] = fmt.Errorf("checking whether user %q may %s: %w", req.Username, checks[i].describe(), ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			allowed, err := c.allowed(ctx, timeout, req, checks[i])
			switch {
			case err != nil:
				failed[i] = err
			case !allowed:
				denied[i] = checks[i].denied(req.Username)
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
		// Bare, so a single refusal is the *Denied itself.
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
func (c *Checker) allowed(ctx context.Context, timeout time.Duration, req Requester, check Check) (bool, error) {
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
		return false, fmt.Errorf("checking whether user %q may %s: %w", req.Username, check.describe(), err)
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
