// Package rights says what a run would make Faultline do, as the rights a
// person would need to do it by hand, and who asked for it: pure, so the
// admission webhooks, the run controller and the plugin's offline lint ask
// the very same question. internal/access asks the API server whether a
// requester holds them.
package rights

import (
	"encoding/json"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
