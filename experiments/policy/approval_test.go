package policy

import (
	"strings"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestMayApprove(t *testing.T) {
	withApprovers := func(a chaosv1alpha1.Approvers) *chaosv1alpha1.ChaosPolicy {
		return &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{Approvers: &a}}
	}
	bob := Person{Username: "bob", Groups: []string{"sre", "system:authenticated"}}
	minted := Person{Username: "system:serviceaccount:shop:approver", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:shop"}}
	tests := map[string]struct {
		policy  *chaosv1alpha1.ChaosPolicy
		parties ApprovalParties
		wantIn  string // "" means allowed
	}{
		"another user, no policy, may approve": {
			parties: ApprovalParties{Approver: bob, Requester: "alice", SpecAuthor: "alice"},
		},
		"the requester may not approve their own run": {
			parties: ApprovalParties{Approver: bob, Requester: "bob"}, wantIn: "asked for this run",
		},
		"the author of the spec may not approve a run of it": {
			parties: ApprovalParties{Approver: bob, Requester: "alice", SpecAuthor: "bob"}, wantIn: "wrote the Experiment's spec",
		},
		"nobody recorded may not approve": {
			parties: ApprovalParties{Requester: "alice"}, wantIn: "no approver is recorded",
		},
		"a ServiceAccount may not approve without a policy naming it": {
			parties: ApprovalParties{Approver: minted, Requester: "alice"}, wantIn: "ServiceAccounts may approve only when",
		},
		"a ServiceAccount may not approve when the policy lists only users and groups": {
			policy:  withApprovers(chaosv1alpha1.Approvers{Groups: []string{"system:serviceaccounts:shop"}, Users: []string{"bob"}}),
			parties: ApprovalParties{Approver: minted, Requester: "alice"}, wantIn: "not listed in the ChaosPolicy's spec.approvers.serviceAccounts",
		},
		"a ServiceAccount listed by name may approve": {
			policy:  withApprovers(chaosv1alpha1.Approvers{ServiceAccounts: []string{"shop/approver"}}),
			parties: ApprovalParties{Approver: minted, Requester: "alice"},
		},
		"a listed ServiceAccount still may not approve its own run": {
			policy:  withApprovers(chaosv1alpha1.Approvers{ServiceAccounts: []string{"shop/approver"}}),
			parties: ApprovalParties{Approver: minted, Requester: minted.Username}, wantIn: "asked for this run",
		},
		"a user in a listed group may approve": {
			policy:  withApprovers(chaosv1alpha1.Approvers{Groups: []string{"sre"}}),
			parties: ApprovalParties{Approver: bob, Requester: "alice"},
		},
		"a user listed by name may approve": {
			policy:  withApprovers(chaosv1alpha1.Approvers{Users: []string{"bob"}}),
			parties: ApprovalParties{Approver: Person{Username: "bob"}, Requester: "alice"},
		},
		"a user neither listed nor in a listed group may not approve": {
			policy:  withApprovers(chaosv1alpha1.Approvers{Users: []string{"carol"}, Groups: []string{"release-managers"}}),
			parties: ApprovalParties{Approver: bob, Requester: "alice"}, wantIn: "not an approver the ChaosPolicy names",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := MayApprove(tc.policy, tc.parties)
			if tc.wantIn == "" && got != "" {
				t.Fatalf("MayApprove = %q, want allowed", got)
			}
			if tc.wantIn != "" && !strings.Contains(got, tc.wantIn) {
				t.Fatalf("MayApprove = %q, want a refusal containing %q", got, tc.wantIn)
			}
		})
	}
}

func TestSpecHashPinsTheExactSpec(t *testing.T) {
	a := &chaosv1alpha1.ExperimentSpec{Approval: &chaosv1alpha1.ApprovalSpec{Required: true}}
	b := a.DeepCopy()
	if SpecHash(a) != SpecHash(b) {
		t.Fatalf("equal specs hash differently: %s, %s", SpecHash(a), SpecHash(b))
	}
	b.Approval.Required = false
	if SpecHash(a) == SpecHash(b) {
		t.Fatalf("a spec without the approval requirement hashes like one with it: %s", SpecHash(a))
	}
	if !strings.HasPrefix(SpecHash(a), "sha256:") || len(SpecHash(a)) != len("sha256:")+64 {
		t.Fatalf("SpecHash = %q, want sha256: and 64 hex digits", SpecHash(a))
	}
	if SpecHash(nil) != "" {
		t.Fatalf("SpecHash(nil) = %q, want empty", SpecHash(nil))
	}
}
