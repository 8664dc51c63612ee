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
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
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

// CheckExperiment returns nil when req may do by hand everything spec would
// make a run in namespace ns do; otherwise an error wrapping one or more
// *Denied (errors.Join), or a transient error from the API server.
func (c *Checker) CheckExperiment(ctx context.Context, req Requester, ns string, spec *chaosv1alpha1.ExperimentSpec) error {
	return errors.New("access: not implemented")
}

// CheckApprove returns nil when req holds the approve verb on the run
// ns/name (resource experimentruns of chaos.faultline.dev), else a *Denied.
func (c *Checker) CheckApprove(ctx context.Context, req Requester, ns, name string) error {
	return errors.New("access: not implemented")
}
