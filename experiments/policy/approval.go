package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// serviceAccountPrefix starts every ServiceAccount's user name.
const serviceAccountPrefix = "system:serviceaccount:"

// SpecHash is the hash an approval is pinned to and a run's snapshot is
// recorded under: "sha256:" and the hex SHA-256 of the spec's JSON. The Go
// type's encoding is canonical (fields in declaration order, map keys
// sorted), so the same spec hashes the same whether it was read from an
// Experiment, a run's snapshot or a webhook's request.
func SpecHash(spec *chaosv1alpha1.ExperimentSpec) string {
	if spec == nil {
		return ""
	}
	b, err := json.Marshal(spec)
	if err != nil {
		// A spec of plain fields always marshals.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Person is a user as the API server authenticated them.
type Person struct {
	// Username as the API server names the user.
	Username string
	// Groups the user belongs to.
	Groups []string
}

// IsServiceAccount reports whether p is a ServiceAccount.
func (p Person) IsServiceAccount() bool {
	return strings.HasPrefix(p.Username, serviceAccountPrefix)
}

// serviceAccountName is "namespace/name" for a ServiceAccount user name.
func serviceAccountName(username string) string {
	return strings.Replace(strings.TrimPrefix(username, serviceAccountPrefix), ":", "/", 1)
}

// ApprovalParties are the people an approval is judged against.
type ApprovalParties struct {
	// Approver is who approves.
	Approver Person
	// Requester is who asked for the run (created it, set run-now, or owns
	// the schedule).
	Requester string
	// SpecAuthor is who last changed the Experiment's spec; empty when
	// unknown.
	SpecAuthor string
}

// MayApprove says why parties.Approver may not approve a run under the
// ChaosPolicy p (nil: none), or "" when they may. It is the one rule for
// four eyes, asked by the admission webhook when the approval is given and
// by the run controller again when the run starts:
//   - the approver is another person than the requester and the author of
//     the spec it would approve;
//   - with spec.approvers set, the approver is listed there, by user name,
//     group, or (for a ServiceAccount) by namespace/name;
//   - without it, any user may approve who is not a ServiceAccount: a
//     namespace admin can mint ServiceAccounts, and must not thereby hold
//     a second identity.
//
// The approve verb itself (RBAC) is checked by SubjectAccessReview beside it.
func MayApprove(p *chaosv1alpha1.ChaosPolicy, parties ApprovalParties) string {
	a := parties.Approver
	switch {
	case a.Username == "":
		return "no approver is recorded"
	case a.Username == parties.Requester:
		return fmt.Sprintf("user %q asked for this run; approval must come from another person", a.Username)
	case parties.SpecAuthor != "" && a.Username == parties.SpecAuthor:
		return fmt.Sprintf("user %q wrote the Experiment's spec this run would inject; approval must come from another person", a.Username)
	}
	var list *chaosv1alpha1.Approvers
	if p != nil {
		list = p.Spec.Approvers
	}
	if list == nil {
		if a.IsServiceAccount() {
			return fmt.Sprintf("%q is a ServiceAccount, and ServiceAccounts may approve only when the ChaosPolicy lists them by name in spec.approvers.serviceAccounts", a.Username)
		}
		return ""
	}
	if a.IsServiceAccount() {
		if slices.Contains(list.ServiceAccounts, serviceAccountName(a.Username)) {
			return ""
		}
		return fmt.Sprintf("ServiceAccount %q is not listed in the ChaosPolicy's spec.approvers.serviceAccounts (as %q)", a.Username, serviceAccountName(a.Username))
	}
	if slices.Contains(list.Users, a.Username) {
		return ""
	}
	for _, g := range a.Groups {
		if slices.Contains(list.Groups, g) {
			return ""
		}
	}
	return fmt.Sprintf("user %q is not an approver the ChaosPolicy names (spec.approvers lists users and groups; ask an administrator to add you or your group)", a.Username)
}
