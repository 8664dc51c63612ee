package schedule

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// dnsSubdomain is what Kubernetes requires of an object name; the run name
// is also a label value, hence MaxRunNameLength.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func TestRunName(t *testing.T) {
	long := strings.Repeat("checkout-", 8) + "pod-kill" // 80 characters
	tests := map[string]struct {
		experiment string
		scheduled  time.Time
		want       string // exact; empty: only the general checks
		wantPrefix string
	}{
		"short name is the experiment and the unix seconds": {
			experiment: "checkout-pod-kill", scheduled: friday2200UTC, want: "checkout-pod-kill-1773439200",
		},
		"the zone of the scheduled time does not change the name": {
			experiment: "checkout-pod-kill", scheduled: friday2200UTC.In(seoul), want: "checkout-pod-kill-1773439200",
		},
		"long name is cut to fit and keeps a hash of the whole": {
			experiment: long, scheduled: friday2200UTC, wantPrefix: long[:43],
		},
		"a cut that ends on a dot does not leave '.-'": {
			experiment: strings.Repeat("a", 42) + "." + strings.Repeat("b", 30), scheduled: friday2200UTC, wantPrefix: strings.Repeat("a", 42) + "-",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := RunName(tc.experiment, tc.scheduled)
			if tc.want != "" && got != tc.want {
				t.Errorf("RunName = %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("RunName = %q, want prefix %q", got, tc.wantPrefix)
			}
			if len(got) > MaxRunNameLength {
				t.Errorf("RunName = %q, %d characters, want at most %d", got, len(got), MaxRunNameLength)
			}
			if !dnsSubdomain.MatchString(got) {
				t.Errorf("RunName = %q, not a valid object name", got)
			}
			if !strings.HasSuffix(got, "-1773439200") {
				t.Errorf("RunName = %q, want the unix seconds at the end", got)
			}
		})
	}
}

func TestRunNameEvery20sNamesRunsBySecond(t *testing.T) {
	sched, err := Parse("@every 20s", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]time.Time{}
	at := friday2200UTC
	for range 3 { // three runs in one minute
		at = Next(sched, at)
		name := RunName("checkout-pod-kill", at)
		if earlier, dup := seen[name]; dup {
			t.Fatalf("runs at %v and %v share the name %q", earlier, at, name)
		}
		seen[name] = at
	}
}

func TestRunNameLongNamesSharingAPrefixDiffer(t *testing.T) {
	prefix := strings.Repeat("shared-prefix-", 5)
	a := RunName(prefix+"checkout", friday2200UTC)
	b := RunName(prefix+"payments", friday2200UTC)
	if a == b {
		t.Errorf("two experiments got the same run name %q", a)
	}
}
