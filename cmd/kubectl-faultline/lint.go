package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/webhooks"
)

func (a *app) lintCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check Experiment, ExperimentRun and ChaosPolicy manifests without a cluster",
		Long: `Check Faultline manifests offline, before they are applied: each object is
decoded strictly against the API (unknown and duplicate fields are errors),
checked against the CRD schema and its validation rules, and put through the
checks the admission webhook makes that need no cluster: cron schedule and
time zone, windows, PromQL, label selectors, names, alert names and the form
of the provider address.

Each problem is printed as FILE: KIND/NAME: FIELD: what is wrong and what to
write instead. "-" reads standard input. Objects of other kinds are skipped.
The cluster still decides what only it can: whether the ChaosPolicy allows
the provider address, and whether you hold the rights the runs use.

Exit codes: 0 no problems, 1 problems found, 6 a file could not be read.`,
		Example: `  kubectl faultline lint config/samples/*.yaml
  kustomize build overlays/prod | kubectl faultline lint -`,
		Args: cobra.MinimumNArgs(1),
		// Completing file names is the shell's default.
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.lint(args, cmd.InOrStdin())
		},
	}
}

// lintFinding is one problem of one object.
type lintFinding struct {
	object  string // Kind/name, or "document N" when it has no name
	message string
}

func (a *app) lint(files []string, stdin io.Reader) error {
	found, unreadable := 0, 0
	for _, file := range files {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			a.say("%s: cannot be read: %v\n", file, err)
			unreadable++
			continue
		}
		findings, err := lintManifests(data, a.now())
		if err != nil {
			a.say("%s: %v\n", file, err)
			found++
			continue
		}
		for _, f := range findings {
			if _, err := fmt.Fprintf(a.stdout, "%s: %s: %s\n", file, f.object, f.message); err != nil {
				return err
			}
		}
		found += len(findings)
	}
	switch {
	case unreadable > 0:
		return &exitStatus{code: exitUnusable}
	case found > 0:
		return &exitStatus{code: exitFailed, err: fmt.Errorf("%d problem(s) found", found)}
	}
	return nil
}

// lintScheme decodes Faultline's kinds.
var lintScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strictDecoder refuses unknown and duplicate fields, as kubectl apply's
// server-side field validation does, and reports each by its path.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, lintScheme, lintScheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// lintManifests checks every document of a YAML or JSON stream. An error
// means the stream itself cannot be split into documents.
func lintManifests(data []byte, now time.Time) ([]lintFinding, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var findings []lintFinding
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return findings, fmt.Errorf("document %d cannot be read as YAML: %w", n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		findings = append(findings, lintDocument(doc, n, now)...)
	}
	return findings, nil
}

// stripComments drops whole-line YAML comments, to tell an empty document
// from one with content.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// lintDocument checks one object.
func lintDocument(doc []byte, n int, now time.Time) []lintFinding {
	object := fmt.Sprintf("document %d", n)
	raw, err := yaml.YAMLToJSON(doc)
	if err != nil {
		// YAML itself refuses most control characters, before any field
		// can be named.
		return []lintFinding{{object, fmt.Sprintf("not valid YAML (%v): fix the YAML; write control characters, if any, as escapes in a double-quoted string", err)}}
	}
	var meta struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
			Namespace    string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return []lintFinding{{object, fmt.Sprintf("not an object with apiVersion, kind and metadata (%v): write one Kubernetes object per document", err)}}
	}
	if meta.Kind == "" || meta.APIVersion == "" {
		return []lintFinding{{object, "apiVersion and kind are missing: write apiVersion: " + chaosv1alpha1.GroupVersion.String() + " and kind: Experiment, ExperimentRun or ChaosPolicy"}}
	}
	gv := chaosv1alpha1.GroupVersion
	if group, _, _ := strings.Cut(meta.APIVersion, "/"); group != gv.Group {
		return nil // not Faultline's: kubectl and the API server check it
	}
	if meta.Metadata.Name != "" {
		object = meta.Kind + "/" + meta.Metadata.Name
	} else {
		object = meta.Kind + " (" + object + ")"
	}
	add := func(findings *[]lintFinding, format string, args ...any) {
		*findings = append(*findings, lintFinding{object, fmt.Sprintf(format, args...)})
	}
	var findings []lintFinding
	if meta.APIVersion != gv.String() {
		add(&findings, "apiVersion %s is not served: write apiVersion: %s", meta.APIVersion, gv.String())
		return findings
	}
	switch meta.Kind {
	case "Experiment", "ExperimentRun", "ChaosPolicy":
	default:
		add(&findings, "kind %s is not a Faultline kind: write Experiment, ExperimentRun or ChaosPolicy", meta.Kind)
		return findings
	}
	if meta.Metadata.Name == "" && meta.Metadata.GenerateName == "" {
		add(&findings, "metadata.name is missing: name the object, such as checkout-pod-kill, or set metadata.generateName for kubectl create")
	}

	// The schema speaks first: its messages ("1y" is not a duration the
	// API accepts) say more than a Go decoding error of the same field.
	schema := schemaProblems(meta.Kind, raw)
	decodeFailed := false
	if _, _, err := strictDecoder.Decode(doc, nil, nil); err != nil {
		if strict, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range strict.Errors() {
				add(&findings, "%s: remove it, or fix its spelling (kubectl explain %s lists the fields)", strictMessage(e), strings.ToLower(meta.Kind))
			}
		} else if decodeFailed = true; len(schema) == 0 {
			add(&findings, "does not decode (%v): write each field with the type the API gives it (kubectl explain %s)", err, strings.ToLower(meta.Kind))
		}
	}
	for _, msg := range schema {
		add(&findings, "%s", msg)
	}
	if len(schema) > 0 || decodeFailed {
		// The webhook sees only what the schema let through; its messages
		// about a malformed object would repeat the schema's. An unknown
		// field does not stop it: the API server would drop or refuse that
		// field, and the rest still deserves checking.
		return findings
	}
	// The webhook's problems are field errors, printed as the API server
	// would: "spec.schedule: Invalid value: ...: what to write".
	var problems field.ErrorList
	switch meta.Kind {
	case "Experiment":
		namespace := meta.Metadata.Namespace
		if namespace == "" {
			namespace = "of the Experiment"
		}
		problems, err = webhooks.CheckExperimentOffline(raw, namespace, now)
	case "ExperimentRun":
		namespace := meta.Metadata.Namespace
		if namespace == "" {
			namespace = "of the run"
		}
		problems, err = webhooks.CheckRunOffline(raw, namespace)
	case "ChaosPolicy":
		problems, err = webhooks.CheckChaosPolicyOffline(raw)
	}
	if err != nil {
		add(&findings, "%v", err)
	}
	for _, e := range problems {
		add(&findings, "%s", e.Error())
	}
	return findings
}

// strictMessage turns the decoder's `unknown field "spec.target.selectr"`
// into `spec.target.selectr: unknown field`.
func strictMessage(err error) string {
	msg := err.Error()
	for _, kind := range []string{"unknown field", "duplicate field"} {
		if rest, ok := strings.CutPrefix(msg, kind+" "); ok {
			return strings.Trim(rest, `"`) + ": " + kind
		}
	}
	return msg
}
