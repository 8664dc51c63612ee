package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	tuesday14 := time.Date(2026, time.March, 10, 14, 0, 0, 0, seoul) // a Tuesday
	thursdayEvening := time.Date(2026, time.March, 12, 17, 0, 0, 0, seoul)
	workHours := &chaosv1alpha1.ExperimentSpec{
		TimeZone: ptr.To("Asia/Seoul"),
		Windows:  []chaosv1alpha1.TimeWindow{{Days: []chaosv1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu"}, Start: "10:00", End: "16:00"}},
	}
	anyTime := &chaosv1alpha1.ExperimentSpec{}
	needsApproval := &chaosv1alpha1.ExperimentSpec{Approval: &chaosv1alpha1.ApprovalSpec{Required: true}}
	badZone := &chaosv1alpha1.ExperimentSpec{TimeZone: ptr.To("Mars/Olympus"), Windows: workHours.Windows}

	paused := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{Paused: true}}
	lunch := chaosv1alpha1.BlackoutWindow{TimeWindow: chaosv1alpha1.TimeWindow{Start: "13:30", End: "14:30"}, TimeZone: ptr.To("Asia/Seoul")}
	lunchBlackout := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{BlackoutWindows: []chaosv1alpha1.BlackoutWindow{lunch}}}
	typoBlackout := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{BlackoutWindows: []chaosv1alpha1.BlackoutWindow{
		{TimeWindow: chaosv1alpha1.TimeWindow{Start: "00:00", End: "23:59"}, TimeZone: ptr.To("Europe/Berln")},
	}}}
	typoAndLunch := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{BlackoutWindows: []chaosv1alpha1.BlackoutWindow{
		{TimeWindow: chaosv1alpha1.TimeWindow{Start: "00:00", End: "23:59"}, TimeZone: ptr.To("Europe/Berln")}, lunch,
	}}}
	twoAtOnce := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{MaxConcurrentRuns: ptr.To[int32](2)}}

	tests := map[string]struct {
		in          Input
		want        Outcome
		wantReason  string
		wantVerdict chaosv1alpha1.Verdict
		wantRetryAt time.Time
		wantInMsg   string
	}{
		"no windows and no policy, starts": {
			in: Input{Spec: anyTime, Now: tuesday14}, want: Start,
		},
		"inside the experiment's window, starts": {
			in: Input{Spec: workHours, Now: tuesday14}, want: Start,
		},
		"kill switch on, a run is refused without starting": {
			in:   Input{Spec: workHours, Policy: paused, Now: tuesday14},
			want: Refuse, wantReason: chaosv1alpha1.ReasonKillSwitch, wantVerdict: chaosv1alpha1.VerdictInconclusive, wantInMsg: "spec.paused",
		},
		"kill switch on, a scheduled run waits until it is off": {
			in:   Input{Spec: workHours, Policy: paused, Now: tuesday14, Scheduled: true},
			want: Wait, wantReason: chaosv1alpha1.ReasonPaused,
		},
		"kill switch wins over an approval": {
			in:   Input{Spec: needsApproval, Policy: paused, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "bob"}},
			want: Refuse, wantReason: chaosv1alpha1.ReasonKillSwitch, wantVerdict: chaosv1alpha1.VerdictInconclusive,
		},
		"inside a blackout, a run is refused": {
			in:   Input{Spec: workHours, Policy: lunchBlackout, Now: tuesday14},
			want: Refuse, wantReason: chaosv1alpha1.ReasonPolicyRefused, wantVerdict: chaosv1alpha1.VerdictInconclusive, wantInMsg: "13:30–14:30",
		},
		"inside a blackout, a scheduled run waits until it ends": {
			in:   Input{Spec: workHours, Policy: lunchBlackout, Now: tuesday14, Scheduled: true},
			want: Wait, wantReason: chaosv1alpha1.ReasonBlackout, wantRetryAt: time.Date(2026, time.March, 10, 14, 30, 0, 0, seoul),
		},
		"a blackout with an unknown time zone is ignored and said so": {
			in:   Input{Spec: anyTime, Policy: typoBlackout, Now: tuesday14},
			want: Start, wantInMsg: "spec.blackoutWindows[0] cannot be read and was ignored",
		},
		"an unreadable blackout does not hide a readable one": {
			in:   Input{Spec: anyTime, Policy: typoAndLunch, Now: tuesday14},
			want: Refuse, wantReason: chaosv1alpha1.ReasonPolicyRefused, wantVerdict: chaosv1alpha1.VerdictInconclusive, wantInMsg: "was ignored",
		},
		"outside the windows, a run is refused and told when the next opens": {
			in:   Input{Spec: workHours, Now: thursdayEvening},
			want: Refuse, wantReason: chaosv1alpha1.ReasonPolicyRefused, wantVerdict: chaosv1alpha1.VerdictInconclusive, wantInMsg: "Mon 2026-03-16 10:00 KST",
		},
		"outside the windows, a scheduled run waits until the next opens": {
			in:   Input{Spec: workHours, Now: thursdayEvening, Scheduled: true},
			want: Wait, wantReason: chaosv1alpha1.ReasonOutsideWindow, wantRetryAt: time.Date(2026, time.March, 16, 10, 0, 0, 0, seoul),
		},
		"windows read in the experiment's zone, not UTC": {
			// 05:00 UTC is 14:00 in Seoul: inside the window there, outside it in UTC.
			in: Input{Spec: workHours, Now: time.Date(2026, time.March, 10, 5, 0, 0, 0, time.UTC)}, want: Start,
		},
		"an unknown experiment time zone ends the run with Error": {
			in:   Input{Spec: badZone, Now: tuesday14},
			want: Refuse, wantReason: chaosv1alpha1.ReasonInvalidSpec, wantVerdict: chaosv1alpha1.VerdictError, wantInMsg: "Mars/Olympus",
		},
		"at maxConcurrentRuns, a run waits and looks again later": {
			in:   Input{Spec: anyTime, Policy: twoAtOnce, Now: tuesday14, OtherActiveRuns: 2},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForPolicy, wantRetryAt: tuesday14.Add(ConcurrencyRecheck), wantInMsg: "allows 2 at once",
		},
		"below maxConcurrentRuns, a run starts": {
			in: Input{Spec: anyTime, Policy: twoAtOnce, Now: tuesday14, OtherActiveRuns: 1}, want: Start,
		},
		"maxConcurrentRuns is the run's to wait for, not the scheduler's": {
			in: Input{Spec: anyTime, Policy: twoAtOnce, Now: tuesday14, OtherActiveRuns: 5, Scheduled: true}, want: Start,
		},
		"approval required and not given, the run waits": {
			in:   Input{Spec: needsApproval, Now: tuesday14},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForApproval, wantInMsg: "kubectl faultline approve",
		},
		"approved with no recorded approver while the webhook is in place, the run waits": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, RequireApprover: true}},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForApproval, wantInMsg: "no approver is recorded",
		},
		"approved by a recorded approver, for the spec the run injects, the run starts": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "bob", RequireApprover: true, Parties: ApprovalParties{Requester: "alice"}, ApprovedSpec: "sha256:a", SnapshotHash: "sha256:a"}},
			want: Start,
		},
		"approved for another spec than the run injects, the approval is void": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "bob", RequireApprover: true, Parties: ApprovalParties{Requester: "alice"}, ApprovedSpec: "sha256:a", SnapshotHash: "sha256:b"}},
			want: Wait, wantReason: chaosv1alpha1.ReasonApprovalVoided, wantInMsg: "the Experiment changed after approval",
		},
		"approved with no pinned spec while the webhook is in place, the approval is void": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "bob", RequireApprover: true, Parties: ApprovalParties{Requester: "alice"}, SnapshotHash: "sha256:b"}},
			want: Wait, wantReason: chaosv1alpha1.ReasonApprovalVoided, wantInMsg: "none recorded",
		},
		"approved by the requester, the approval does not count": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "alice", RequireApprover: true, Parties: ApprovalParties{Requester: "alice"}, ApprovedSpec: "sha256:a", SnapshotHash: "sha256:a"}},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForApproval, wantInMsg: "asked for this run",
		},
		"approved by a ServiceAccount the policy does not list, the approval does not count": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true, ApprovedBy: "system:serviceaccount:shop:minted", RequireApprover: true, Parties: ApprovalParties{Requester: "alice"}, ApprovedSpec: "sha256:a", SnapshotHash: "sha256:a"}},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForApproval, wantInMsg: "ServiceAccount",
		},
		"approved without the webhook, the annotation alone starts the run": {
			in: Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{Approved: true}}, want: Start,
		},
		"an approver recorded without the approved annotation does not start the run": {
			in:   Input{Spec: needsApproval, Now: tuesday14, Approval: Approval{ApprovedBy: "bob", RequireApprover: true}},
			want: Wait, wantReason: chaosv1alpha1.ReasonWaitingForApproval,
		},
		"approval is the run's to wait for, not the scheduler's": {
			in: Input{Spec: needsApproval, Now: tuesday14, Scheduled: true}, want: Start,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Decide(tc.in)
			if d.Outcome != tc.want || d.Reason != tc.wantReason || d.Verdict != tc.wantVerdict || !d.RetryAt.Equal(tc.wantRetryAt) {
				t.Errorf("Decide = %+v\nwant outcome %s, reason %q, verdict %q, retry at %s", d, tc.want, tc.wantReason, tc.wantVerdict, tc.wantRetryAt)
			}
			if d.Outcome != Start && d.Message == "" {
				t.Errorf("Decide = %+v: a hold or refusal needs a message", d)
			}
			if !strings.Contains(d.Message, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", d.Message, tc.wantInMsg)
			}
		})
	}
}

func TestResolveNamespaces(t *testing.T) {
	enabled := labels.Set{chaosv1alpha1.EnabledNamespaceLabel: "true"}
	team := labels.Set{"team": "shop"}
	tests := map[string]struct {
		policy        *chaosv1alpha1.ChaosPolicy
		wantMatches   []labels.Set
		wantNoMatch   []labels.Set
		wantProtected []string
		wantScope     chaosv1alpha1.DrainScope
		wantNote      string
	}{
		"no policy: the opt-in label, kube-system protected, enabled namespaces drained": {
			wantMatches: []labels.Set{enabled}, wantNoMatch: []labels.Set{team},
			wantProtected: []string{"kube-system"}, wantScope: chaosv1alpha1.DrainEnabledNamespaces,
		},
		"the policy's selector, protected list and drain scope apply": {
			policy: &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{
				NamespaceSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
				ProtectedNamespaces: []string{"payments"},
				DrainScope:          chaosv1alpha1.DrainAllNamespaces,
			}},
			wantMatches: []labels.Set{team}, wantNoMatch: []labels.Set{enabled},
			wantProtected: []string{"payments"}, wantScope: chaosv1alpha1.DrainAllNamespaces,
		},
		"an invalid selector falls back to the opt-in label and says so": {
			policy: &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}},
			}},
			wantMatches: []labels.Set{enabled}, wantNoMatch: []labels.Set{team},
			wantProtected: []string{"kube-system"}, wantScope: chaosv1alpha1.DrainEnabledNamespaces,
			wantNote: "spec.namespaceSelector is invalid",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := ResolveNamespaces(tc.policy)
			for _, l := range tc.wantMatches {
				if !ns.Selector.Matches(l) {
					t.Errorf("selector %s does not match %v", ns.Selector, l)
				}
			}
			for _, l := range tc.wantNoMatch {
				if ns.Selector.Matches(l) {
					t.Errorf("selector %s matches %v", ns.Selector, l)
				}
			}
			if !ns.Protected.Equal(sets.New(tc.wantProtected...)) {
				t.Errorf("protected = %v, want %v", ns.Protected.UnsortedList(), tc.wantProtected)
			}
			if ns.DrainScope != tc.wantScope {
				t.Errorf("drain scope = %s, want %s", ns.DrainScope, tc.wantScope)
			}
			notes := strings.Join(ns.Notes, "; ")
			if (tc.wantNote == "") != (notes == "") || !strings.Contains(notes, tc.wantNote) {
				t.Errorf("notes = %q, want one containing %q", notes, tc.wantNote)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		spec chaosv1alpha1.ChaosPolicySpec
		want []string
	}{
		"a sound policy has no problems": {
			spec: chaosv1alpha1.ChaosPolicySpec{
				NamespaceSelector:        &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
				AllowedProviderAddresses: []string{"http://prometheus.monitoring:9090"},
				BlackoutWindows:          []chaosv1alpha1.BlackoutWindow{{TimeWindow: chaosv1alpha1.TimeWindow{Start: "13:00", End: "14:00"}, TimeZone: ptr.To("Europe/Berlin")}},
			},
		},
		"an invalid selector operator is named with what to write": {
			spec: chaosv1alpha1.ChaosPolicySpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}},
			want: []string{"spec.namespaceSelector"},
		},
		"an address with a password and one without a scheme are both named": {
			spec: chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{"http://u:p@prom:9090", "prom:9090"}},
			want: []string{"spec.allowedProviderAddresses[0]", "spec.allowedProviderAddresses[1]"},
		},
		"an unknown blackout time zone is named": {
			spec: chaosv1alpha1.ChaosPolicySpec{BlackoutWindows: []chaosv1alpha1.BlackoutWindow{
				{TimeWindow: chaosv1alpha1.TimeWindow{Start: "13:00", End: "14:00"}},
				{TimeWindow: chaosv1alpha1.TimeWindow{Start: "13:00", End: "14:00"}, TimeZone: ptr.To("Europe/Berln")},
			}},
			want: []string{"spec.blackoutWindows[1].timeZone"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Validate(&chaosv1alpha1.ChaosPolicy{Spec: tc.spec})
			if len(got) != len(tc.want) {
				t.Fatalf("Validate = %q, want %d problems naming %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to lead with %q", i, got[i], w)
				}
			}
		})
	}
}
