package webhooks_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// minCorpusRefusals is how many malformed manifests the corpus must hold,
// and the API server refuse, once both halves are in place: the schema's
// (schema-*.yaml) and the webhooks' (webhook-*.yaml).
const minCorpusRefusals = 100

// corpusCase is one malformed manifest and what its refusal must say.
type corpusCase struct {
	file string
	want string
	// wantPath is the field the refusal's cause names; every webhook-*
	// file has one, as the API server's own schema-* refusals name theirs.
	wantPath string
	obj      *unstructured.Unstructured
}

// readCorpus reads every testdata/corpus/*.yaml. Each starts with
// "# want: <substring of the refusal>" and "# why: <what is wrong>", and
// may name the field of the refusal's cause with "# want-path: <path>".
func readCorpus(t *testing.T) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want, why, wantPath string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			if v, ok := strings.CutPrefix(line, "# want:"); ok {
				want = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "# why:"); ok {
				why = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "# want-path:"); ok {
				wantPath = strings.TrimSpace(v)
			}
		}
		if want == "" || why == "" {
			t.Errorf("%s: starts without both a '# want: ...' and a '# why: ...' line", f)
			continue
		}
		if wantPath == "" && strings.HasPrefix(filepath.Base(f), "webhook-") {
			t.Errorf("%s: a webhook refusal names its field: add a '# want-path: ...' line", f)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Errorf("%s: not YAML: %v", f, err)
			continue
		}
		if obj.GetKind() != "ChaosPolicy" && obj.GetNamespace() == "" {
			obj.SetNamespace(corpusNamespace)
		}
		cases = append(cases, corpusCase{file: filepath.Base(f), want: want, wantPath: wantPath, obj: obj})
	}
	return cases
}

// TestCorpusIsRefused sends every malformed manifest of the corpus to the
// API server, with the CRD schema and the webhooks in place, and asserts
// each is refused as Invalid with the message its file names, and with a
// cause on the field its want-path names, as kubectl prints it. The requests are dry
// runs: nothing is stored, so files may share names, and a manifest that is
// wrongly accepted fails its case rather than leaking into the next.
func TestCorpusIsRefused(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	cases := readCorpus(t)
	refused := 0
	halves := map[string]int{}
	for _, c := range cases {
		half, _, _ := strings.Cut(c.file, "-")
		halves[half]++
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			err := admin.Create(ctx, c.obj.DeepCopy(), client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted; want a refusal containing %q", c.want)
			}
			if apierrors.IsAlreadyExists(err) {
				t.Fatalf("passed admission (refused only because it already exists); want a refusal containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refused with\n  %v\nwant a message containing\n  %q", err, c.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("refused as %s, want Invalid: %v", apierrors.ReasonForError(err), err)
			}
			if c.wantPath != "" {
				var status apierrors.APIStatus
				var fields []string
				if errors.As(err, &status) && status.Status().Details != nil {
					for _, cause := range status.Status().Details.Causes {
						fields = append(fields, cause.Field)
					}
				}
				if !slices.Contains(fields, c.wantPath) {
					t.Fatalf("refused with causes on %q, want one on %s:\n  %v", fields, c.wantPath, err)
				}
			}
			t.Logf("refused: %v", err)
			refused++
		})
	}
	t.Logf("corpus: %d manifests refused of %d (%d schema-*, %d webhook-*)", refused, len(cases), halves["schema"], halves["webhook"])
	if halves["webhook"] < 35 {
		t.Errorf("corpus holds %d webhook-*.yaml manifests; want at least 35", halves["webhook"])
	}
	if halves["schema"] > 0 && halves["webhook"] > 0 && refused < minCorpusRefusals {
		t.Errorf("corpus: %d manifests refused as they should be; want at least %d", refused, minCorpusRefusals)
	}
}

// TestSamplesApply asserts that every manifest in config/samples passes the
// schema and the webhooks: the samples are what users copy first.
func TestSamplesApply(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := dec.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			t.Run(filepath.Base(f)+"/"+obj.GetKind(), func(t *testing.T) {
				if obj.GetKind() == "ChaosPolicy" {
					// The suite's policy exists: apply the sample over it as
					// an update, which the webhook validates like a create.
					current := &unstructured.Unstructured{}
					current.SetGroupVersionKind(obj.GroupVersionKind())
					if err := admin.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, current); err != nil {
						t.Fatal(err)
					}
					obj.SetResourceVersion(current.GetResourceVersion())
					if err := admin.Update(ctx, obj, client.DryRunAll); err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if err := admin.Create(ctx, obj, client.DryRunAll); err != nil {
					t.Fatalf("refused: %v", err)
				}
			})
		}
	}
}
