package rights

import (
	"errors"
	"fmt"
)

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

// IsDenied reports whether err holds at least one *Denied: the requester
// lacks a right, as opposed to the API server failing to answer.
func IsDenied(err error) bool {
	return errors.As(err, new(*Denied))
}

// ErrTooManyChecks means a spec needs more than MaxChecks rights checked.
// It is a property of the spec, not of the API server: retrying does not
// help, and the spec has to be made smaller.
var ErrTooManyChecks = errors.New("the spec needs too many rights checked")

// MaxChecks bounds the rights one spec may need checked. The schema bounds
// target namespaces and probes well below it (64 namespaces of two rights
// each, 32 workload probes, one Secret); the cap stops an object stored
// before those bounds, or around the schema, from making every admission
// request or run start fan out into thousands of reviews.
const MaxChecks = 256
