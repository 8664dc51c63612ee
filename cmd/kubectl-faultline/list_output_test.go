package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestListOutputFormats(t *testing.T) {
	t0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	observing := chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Message: "fault active;\twaiting\nfor recovery",
		Targets: []chaosv1alpha1.TargetStatus{{Name: "checkout-1"}, {Name: "checkout-2"}}}
	objects := []client.Object{
		storedRun("checkout-pod-kill-b", "checkout-pod-kill", t0.Add(time.Hour), observing),
		storedRun("checkout-pod-kill-a", "checkout-pod-kill", t0, completed(chaosv1alpha1.VerdictPassed, "ok")),
	}
	// decodeList reads a List as kubectl would, checking each item's kind.
	decodeList := func(t *testing.T, out []byte) []string {
		var list struct {
			APIVersion, Kind string
			Items            []chaosv1alpha1.ExperimentRun
		}
		if err := json.Unmarshal(out, &list); err != nil {
			t.Fatalf("output is not a List: %v\n%s", err, out)
		}
		if list.APIVersion != "v1" || list.Kind != "List" {
			t.Errorf("apiVersion/kind = %s/%s, want v1/List", list.APIVersion, list.Kind)
		}
		var names []string
		for _, r := range list.Items {
			if r.APIVersion != "chaos.faultline.dev/v1alpha1" || r.Kind != "ExperimentRun" {
				t.Errorf("item %s has apiVersion/kind %s/%s", r.Name, r.APIVersion, r.Kind)
			}
			names = append(names, r.Name+":"+string(r.Status.Phase))
		}
		return names
	}
	tests := map[string]struct {
		args  []string
		check func(t *testing.T, out string)
	}{
		"name prints resource/name lines, oldest first": {
			args: []string{"list", "-o", "name"},
			check: func(t *testing.T, out string) {
				want := "experimentrun.chaos.faultline.dev/checkout-pod-kill-a\nexperimentrun.chaos.faultline.dev/checkout-pod-kill-b\n"
				if out != want {
					t.Errorf("got:\n%s\nwant:\n%s", out, want)
				}
			},
		},
		"json is a List of the runs with their status": {
			args: []string{"list", "-o", "json"},
			check: func(t *testing.T, out string) {
				if got := strings.Join(decodeList(t, []byte(out)), ","); got != "checkout-pod-kill-a:Completed,checkout-pod-kill-b:Observing" {
					t.Errorf("items = %s", got)
				}
			},
		},
		"yaml is the same List": {
			args: []string{"list", "-o", "yaml"},
			check: func(t *testing.T, out string) {
				j, err := yaml.YAMLToJSON([]byte(out))
				if err != nil {
					t.Fatalf("output is not YAML: %v\n%s", err, out)
				}
				if got := strings.Join(decodeList(t, j), ","); got != "checkout-pod-kill-a:Completed,checkout-pod-kill-b:Observing" {
					t.Errorf("items = %s", got)
				}
			},
		},
		"wide adds targets and the message on one line": {
			args: []string{"list", "-o", "wide"},
			check: func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if len(lines) != 3 {
					t.Fatalf("%d lines, want a header and two runs:\n%s", len(lines), out)
				}
				if !strings.HasSuffix(strings.Join(strings.Fields(lines[0]), " "), "AGE TARGETS MESSAGE") {
					t.Errorf("header %q does not end with TARGETS and MESSAGE", lines[0])
				}
				if !strings.HasSuffix(lines[2], " 2         fault active; waiting for recovery") {
					t.Errorf("row %q does not end with 2 targets and the message", lines[2])
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, objects)
			if code := h.execute(tc.args...); code != 0 {
				t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
			}
			tc.check(t, h.stdout.String())
		})
	}
	t.Run("an unknown format is refused before anything is read", func(t *testing.T) {
		h := newHarness(t, objects)
		if code := h.execute("list", "-o", "jsn"); code != exitUnusable {
			t.Fatalf("exit code %d, want %d", code, exitUnusable)
		}
		if !strings.Contains(h.stderr.String(), `unknown output format "jsn"`) || h.stdout.String() != "" {
			t.Errorf("stdout %q, stderr %q", h.stdout.String(), h.stderr.String())
		}
	})
	t.Run("json of no runs is an empty List", func(t *testing.T) {
		h := newHarness(t, nil)
		if code := h.execute("list", "-o", "json"); code != 0 {
			t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
		}
		if names := decodeList(t, []byte(h.stdout.String())); len(names) != 0 {
			t.Errorf("items = %v, want none", names)
		}
	})
}
