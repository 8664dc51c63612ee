package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lintRun runs `kubectl faultline lint args...` with stdin and returns the
// exit code, stdout and stderr.
func lintRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(&stdout, &stderr, make(chan os.Signal))
	a.now = func() time.Time { return time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC) }
	root := a.rootCommand()
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"lint"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := 0
	if err := root.Execute(); err != nil {
		code = exitUnusable
		if status, ok := err.(*exitStatus); ok {
			code = status.code
		}
	}
	return code, stdout.String(), stderr.String()
}

func TestLintAcceptsGoodManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples (%v)", err)
	}
	files = append(files, filepath.Join("testdata", "lint", "good.yaml"))
	code, stdout, stderr := lintRun(t, "", files...)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d on good manifests; want 0 and no output\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestLintReportsEachMistakeByFileObjectAndField(t *testing.T) {
	file := filepath.Join("testdata", "lint", "bad.yaml")
	code, stdout, _ := lintRun(t, "", file)
	if code != exitFailed {
		t.Errorf("exit code %d, want %d", code, exitFailed)
	}
	// Each line leads with the file, the object and the field, and says
	// what to write instead.
	for _, want := range []string{
		file + ": Experiment/checkout-pod-kill: spec.target.selectr: unknown field: remove it",
		file + ": Experiment/checkout-pod-kill: spec.schedule: Invalid value: \"0 14 * * TUESDAY\": ",
		file + ": Experiment/checkout-pod-kill: spec.target.selector.matchExpressions[0].key: Invalid value: \"app/\"",
		file + ": Experiment/checkout-pod-kill: spec.steadyState.probes[0].prometheus.query: Invalid value: \"sum(rate(http_requests_total[1m])\": does not parse",
		file + ": Experiment/checkout-istio: spec: Invalid value: fault.istio needs target.kind VirtualService",
		file + ": Experiment/checkout-nightly: spec.timeZone: Invalid value: \"Asia/Seol\": unknown time zone: use an IANA name such as Europe/Berlin",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for line := range strings.Lines(stdout) {
		if !strings.Contains(line, ": write ") && !strings.Contains(line, ": use ") && !strings.Contains(line, ": remove ") &&
			!strings.Contains(line, "needs target.kind") {
			t.Errorf("line does not say what to write instead: %s", line)
		}
	}
}

func TestLintReadsStandardInputAndRefusesUnreadableFiles(t *testing.T) {
	bad, err := os.ReadFile(filepath.Join("testdata", "lint", "bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := lintRun(t, string(bad), "-"); code != exitFailed || !strings.HasPrefix(stdout, "-: Experiment/checkout-pod-kill: ") {
		t.Errorf("lint - on bad input: exit %d, output:\n%s", code, stdout)
	}
	code, _, stderr := lintRun(t, "", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitUnusable || !strings.Contains(stderr, "missing.yaml: cannot be read") {
		t.Errorf("missing file: exit %d, stderr %q; want %d and the file named", code, stderr, exitUnusable)
	}
	if code, _, _ := lintRun(t, "apiVersion: chaos.faultline.dev/v1beta9\nkind: Experiment\nmetadata: {name: x}\n", "-"); code != exitFailed {
		t.Errorf("an unserved apiVersion passed lint (exit %d)", code)
	}
}

// TestLintCatchesTheAdmissionCorpus: every malformed manifest the CRD schema
// or the admission webhook refuses is reported by lint with the same
// message, on the field the refusal names (want-path), but those whose
// refusal depends on the cluster's ChaosPolicy.
func TestLintCatchesTheAdmissionCorpus(t *testing.T) {
	needsCluster := map[string]bool{
		// The provider address is well formed; only the ChaosPolicy's
		// allow-list refuses it.
		"webhook-address-lookalike-host.yaml": true,
		"webhook-address-not-allowed.yaml":    true,
		"webhook-address-other-port.yaml":     true,
		"webhook-address-other-scheme.yaml":   true,
		// Well formed too, and normalised to a path outside the suite's
		// allowed tenant prefix: only the allow-list refuses them.
		"webhook-address-dot-segments-climb.yaml":      true,
		"webhook-address-encoded-dots-climb.yaml":      true,
		"webhook-address-encoded-dot-upper-plain.yaml": true,
		"webhook-address-plain-encoded-dot.yaml":       true,
		"webhook-address-double-slash-climb.yaml":      true,
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "webhooks", "testdata", "corpus", "*.yaml"))
	if err != nil || len(files) < 100 {
		t.Fatalf("corpus: %d files (%v)", len(files), err)
	}
	caught := 0
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, wantPath := "", ""
		for line := range strings.Lines(string(data)) {
			if !strings.HasPrefix(line, "#") {
				break
			}
			if v, ok := strings.CutPrefix(line, "# want:"); ok {
				want = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "# want-path:"); ok {
				wantPath = strings.TrimSpace(v)
			}
		}
		findings, err := lintManifests(data, time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var messages []string
		onPath := wantPath == ""
		for _, f := range findings {
			messages = append(messages, f.message)
			onPath = onPath || strings.HasPrefix(f.message, wantPath+": ")
		}
		all := strings.Join(messages, "\n")
		switch {
		case needsCluster[name]:
			if len(findings) > 0 {
				t.Errorf("%s needs the cluster's ChaosPolicy, yet lint reported: %s", name, all)
			}
		case !strings.Contains(all, want):
			t.Errorf("%s: lint reported\n  %s\nwant a message containing\n  %q", name, all, want)
		case !onPath:
			t.Errorf("%s: lint reported\n  %s\nwant a message on %s", name, all, wantPath)
		default:
			caught++
		}
	}
	if caught+len(needsCluster) != len(files) {
		t.Errorf("lint caught %d of %d corpus manifests", caught, len(files)-len(needsCluster))
	}
}
