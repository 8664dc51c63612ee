package webhooks_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// TestKubectlPrintsTheFieldsOfARefusal sends a refused Experiment with
// kubectl, as a user would, and asserts kubectl prints each problem on its
// field in the API server's own form: the webhooks answer with an Invalid
// status whose causes name the fields, not a bare message.
func TestKubectlPrintsTheFieldsOfARefusal(t *testing.T) {
	apiServer(t)
	if _, err := os.Stat(env.ControlPlane.KubectlPath); err != nil {
		t.Skipf("no kubectl beside the API server (%v)", err)
	}
	user, err := env.AddUser(envtest.User{Name: "kubectl-user", Groups: []string{"faultline-test-admins"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := user.Kubectl()
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		edit func(map[string]any)
		want []string // lines of kubectl's output, in order
	}{
		"one problem is printed on one line": {
			edit: func(spec map[string]any) { spec["schedule"] = "0 14 * * TUES" },
			want: []string{`The Experiment "kubectl-refused" is invalid: spec.schedule: Invalid value: "0 14 * * TUES": failed to parse int from TUES`},
		},
		"several problems are listed, each on its field": {
			edit: func(spec map[string]any) {
				spec["timeZone"] = "Asia/Seol"
				spec["detection"] = map[string]any{"alerts": []any{"A,B"}}
			},
			want: []string{
				`The Experiment "kubectl-refused" is invalid: `,
				`* spec.timeZone: Invalid value: "Asia/Seol": unknown time zone: use an IANA name such as Europe/Berlin`,
				`* spec.detection.alerts[0]: Invalid value: "A,B": is not one alert name: write each alert as its own item`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			exp := newExperiment("kubectl-refused")
			exp.APIVersion, exp.Kind = "chaos.faultline.dev/v1alpha1", "Experiment"
			raw, err := yaml.Marshal(exp)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			tc.edit(obj["spec"].(map[string]any))
			raw, err = yaml.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "experiment.yaml")
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := kubectl.Run("create", "--dry-run=server", "-f", file)
			outBytes, _ := io.ReadAll(stdout)
			errBytes, _ := io.ReadAll(stderr)
			if err == nil {
				t.Fatalf("kubectl create succeeded:\n%s", outBytes)
			}
			got := string(errBytes)
			t.Logf("kubectl prints:\n%s", got)
			rest := got
			for _, line := range tc.want {
				i := strings.Index(rest, line)
				if i < 0 {
					t.Fatalf("kubectl printed\n%s\nwant, in order, a line containing\n%s", got, line)
				}
				rest = rest[i+len(line):]
			}
		})
	}
}
