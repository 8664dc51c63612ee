package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestStatusWatchPrintsALinePerChange(t *testing.T) {
	c := newCluster(t)
	c.createRun("scheduled", baseline)
	p := c.start("status", "scheduled", "--watch")
	p.await(p.stdout, "Baseline")
	c.operate("scheduled", observing)
	p.await(p.stdout, "Observing")
	// A status patch that changes nothing a reader sees (the operator
	// records probe samples all along) is not a line.
	sampled := observing
	sampled.Timeline.InjectedAt = micro(time.Now())
	c.operate("scheduled", sampled)
	failed := completed(chaosv1alpha1.VerdictFailed, "missed recoverWithin")
	failed.Result = &chaosv1alpha1.RunResult{
		TimeToDetect:  &metav1.Duration{Duration: 1500 * time.Millisecond},
		TimeToRecover: &metav1.Duration{Duration: 3*time.Minute + 7*time.Millisecond},
	}
	c.operate("scheduled", failed)

	if code := p.exitCode(); code != exitFailed {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, p.stdout.String(), p.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(p.stdout.String(), "\n"), "\n")
	wantPhases := []string{"Baseline", "Observing", "Completed"}
	if len(lines) != 1+len(wantPhases) {
		t.Fatalf("%d lines, want a header and one line per phase:\n%s", len(lines), p.stdout.String())
	}
	if header := strings.Fields(lines[0]); strings.Join(header[:6], " ") != "NAME PHASE VERDICT DETECT NOTIFY RECOVER" {
		t.Errorf("header = %q", lines[0])
	}
	for i, phase := range wantPhases {
		fields := strings.Fields(lines[i+1])
		if len(fields) < 3 || fields[0] != "scheduled" || fields[1] != phase {
			t.Errorf("line %d = %q, want the run in phase %s", i+1, lines[i+1], phase)
		}
	}
	last := strings.Fields(lines[len(lines)-1])
	if want := []string{"scheduled", "Completed", "Failed", failed.Result.TimeToDetect.Duration.String(), "<none>", failed.Result.TimeToRecover.Duration.String()}; strings.Join(last[:6], " ") != strings.Join(want, " ") {
		t.Errorf("last line = %q, want it to start with %q", lines[len(lines)-1], strings.Join(want, " "))
	}
}

func TestStatusOutputFormats(t *testing.T) {
	c := newCluster(t)
	passed := completed(chaosv1alpha1.VerdictPassed, "recovered")
	c.createRun("done", passed)

	t.Run("json is the run itself", func(t *testing.T) {
		p := c.start("status", "done", "-o", "json")
		if code := p.exitCode(); code != 0 {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr.String())
		}
		var run chaosv1alpha1.ExperimentRun
		if err := json.Unmarshal([]byte(p.stdout.String()), &run); err != nil {
			t.Fatalf("stdout is not JSON of a run: %v\n%s", err, p.stdout.String())
		}
		if run.APIVersion != chaosv1alpha1.GroupVersion.String() || run.Kind != "ExperimentRun" || run.Name != "done" || run.Namespace != c.namespace {
			t.Errorf("decoded %s %s %s/%s, want %s ExperimentRun %s/done", run.APIVersion, run.Kind, run.Namespace, run.Name, chaosv1alpha1.GroupVersion, c.namespace)
		}
		if run.Status.Verdict != passed.Verdict || run.Status.Result.TimeToRecover.Duration != passed.Result.TimeToRecover.Duration {
			t.Errorf("decoded status %+v, want the stored one %+v", run.Status, passed)
		}
	})
	t.Run("yaml is the run itself", func(t *testing.T) {
		p := c.start("status", "done", "-o", "yaml")
		if code := p.exitCode(); code != 0 {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr.String())
		}
		var run chaosv1alpha1.ExperimentRun
		if err := yaml.UnmarshalStrict([]byte(p.stdout.String()), &run); err != nil || run.Name != "done" || run.Status.Verdict != passed.Verdict {
			t.Errorf("stdout is not YAML of the run (%v):\n%s", err, p.stdout.String())
		}
	})
	t.Run("name is resource/name", func(t *testing.T) {
		p := c.start("status", "done", "-o", "name")
		if code := p.exitCode(); code != 0 {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr.String())
		}
		if got, want := p.stdout.String(), "experimentrun."+chaosv1alpha1.GroupVersion.Group+"/done\n"; got != want {
			t.Errorf("stdout = %q, want %q", got, want)
		}
	})
	t.Run("wide adds the experiment and the message", func(t *testing.T) {
		p := c.start("status", "done", "-o", "wide")
		if code := p.exitCode(); code != 0 {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, p.stderr.String())
		}
		out := p.stdout.String()
		for _, want := range []string{"EXPERIMENT", "MESSAGE", "checkout-pod-kill", "recovered"} {
			if !strings.Contains(out, want) {
				t.Errorf("wide output does not contain %q:\n%s", want, out)
			}
		}
	})
	t.Run("an unknown format is refused before connecting", func(t *testing.T) {
		p := c.start("status", "done", "-o", "jsonpath")
		if code := p.exitCode(); code != exitUnusable {
			t.Fatalf("exit code %d, want %d", code, exitUnusable)
		}
		if want := `unknown output format "jsonpath"; use one of: wide, json, yaml, name`; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.stderr.String())
		}
	})
	t.Run("a missing run exits 6 naming the namespace", func(t *testing.T) {
		p := c.start("status", "nope")
		if code := p.exitCode(); code != exitUnusable {
			t.Fatalf("exit code %d, want %d", code, exitUnusable)
		}
		if want := `run "nope" not found in namespace "` + c.namespace + `"`; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.stderr.String())
		}
	})
}
