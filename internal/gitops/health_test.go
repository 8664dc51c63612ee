package gitops

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// gitopsDir holds what users copy into their Argo CD and Flux set-ups.
var gitopsDir = filepath.Join("..", "..", "config", "gitops")

var t0 = time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)

// health is one state of a run as the three tools should judge it.
type health struct {
	kstatus kstatus.Status
	argo    string // Argo CD health status
	flux    kstatus.Status
}

var (
	inProgress = health{kstatus: kstatus.InProgressStatus, argo: "Progressing", flux: kstatus.InProgressStatus}
	passed     = health{kstatus: kstatus.CurrentStatus, argo: "Healthy", flux: kstatus.CurrentStatus}
	notPassed  = health{kstatus: kstatus.FailedStatus, argo: "Degraded", flux: kstatus.FailedStatus}
)

// fixture is a run in one state, its status as the operator writes it.
type fixture struct {
	name string
	// status is the run's status; nil for a run the operator has not
	// written yet, which the API server serves with the CRD's default.
	status *chaosv1alpha1.ExperimentRunStatus
	want   health
}

// fixtures are runs in every phase and with every verdict. Their statuses
// are made the operator's way: the engine finishes the run, and the
// controller's SetReadiness adds the kstatus conditions before the write.
func fixtures() []fixture {
	running := func(p chaosv1alpha1.RunPhase, message string) *chaosv1alpha1.ExperimentRunStatus {
		st := &chaosv1alpha1.ExperimentRunStatus{Phase: p, Message: message}
		engine.SetReadiness(st, 1, t0)
		return st
	}
	finished := func(v chaosv1alpha1.Verdict, reason, message string) *chaosv1alpha1.ExperimentRunStatus {
		st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseRecovering}
		engine.Run{Spec: &chaosv1alpha1.ExperimentSpec{}, Status: st}.Fail(t0, v, reason, message)
		engine.SetReadiness(st, 1, t0)
		return st
	}
	return []fixture{
		{name: "not seen by the operator yet", want: inProgress},
		{name: "pending approval", status: running(chaosv1alpha1.PhasePending, "waiting for approval"), want: inProgress},
		{name: "baseline", status: running(chaosv1alpha1.PhaseBaseline, "verifying the steady state before touching anything"), want: inProgress},
		{name: "injecting", status: running(chaosv1alpha1.PhaseInjecting, "selected 1 target(s): pod/shop/web-1"), want: inProgress},
		{name: "observing, the fault active", status: running(chaosv1alpha1.PhaseObserving, "fault injected into 1 target(s); observing"), want: inProgress},
		{name: "reverting", status: running(chaosv1alpha1.PhaseReverting, "reverting the fault"), want: inProgress},
		{name: "recovering", status: running(chaosv1alpha1.PhaseRecovering, "fault reverted; waiting for the steady state to return"), want: inProgress},
		{name: "passed", status: finished(chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonPassed, "detected by probes in 2s; recovered in 5s"), want: passed},
		{name: "dry run passed", status: finished(chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonDryRun, "dry run: nothing was injected"), want: passed},
		{name: "failed", status: finished(chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonNotRecovered, "did not recover within 2m0s"), want: notPassed},
		{name: "aborted", status: finished(chaosv1alpha1.VerdictAborted, chaosv1alpha1.ReasonAborted, "aborted: guard breached"), want: notPassed},
		{name: "inconclusive", status: finished(chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonBaselineNotHeld, "the baseline did not hold"), want: notPassed},
		{name: "error", status: finished(chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonConfigError, "configuration error: create the Secret"), want: notPassed},
	}
}

// object is the run with status st as the API server serves it: generation
// 1, observed by the operator when it wrote a status, and the CRD's status
// default (observedGeneration 0) when it did not.
func object(t *testing.T, name string, st *chaosv1alpha1.ExperimentRunStatus) map[string]any {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: chaosv1alpha1.GroupVersion.String(), Kind: "ExperimentRun"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
	}
	if st != nil {
		run.Status = *st
		run.Status.ObservedGeneration = 1
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		obj["status"] = map[string]any{"observedGeneration": int64(0)}
	}
	return obj
}

func TestHealthChecksJudgeEveryRunAlike(t *testing.T) {
	argo := loadArgoCDHealth(t)
	flux := loadFluxHealth(t)
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			obj := object(t, "run-1", f.status)
			if got := kstatusOf(t, obj); got != f.want.kstatus {
				t.Errorf("kstatus = %s, want %s", got, f.want.kstatus)
			}
			if got, msg := argo(t, obj); got != f.want.argo || msg == "" {
				t.Errorf("Argo CD health = %s (%q), want %s with a message", got, msg, f.want.argo)
			}
			if got := flux(t, obj); got != f.want.flux {
				t.Errorf("Flux health = %s, want %s", got, f.want.flux)
			}
		})
	}
}

// TestHealthChecksFailClosed: a verdict this version does not know (one a
// newer operator may add) must not pass a sync or a pipeline.
func TestHealthChecksFailClosed(t *testing.T) {
	argo := loadArgoCDHealth(t)
	flux := loadFluxHealth(t)
	obj := object(t, "run-1", &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseCompleted, Verdict: "Flaky"})
	if got, _ := argo(t, obj); got != "Degraded" {
		t.Errorf("Argo CD health of an unknown verdict = %s, want Degraded", got)
	}
	if got := flux(t, obj); got != kstatus.FailedStatus {
		t.Errorf("Flux health of an unknown verdict = %s, want Failed", got)
	}
}

// TestArgoCDConfigMapCarriesTheScript: the argocd-cm snippet users merge
// holds health.lua itself, under the key Argo CD reads for the kind.
func TestArgoCDConfigMapCarriesTheScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(gitopsDir, "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(gitopsDir, "argocd", "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("argocd-cm.yaml is a %s named %q, want the ConfigMap argocd-cm", cm.Kind, cm.Metadata.Name)
	}
	const key = "resource.customizations.health.chaos.faultline.dev_ExperimentRun"
	if got := cm.Data[key]; got != string(script) {
		t.Errorf("argocd-cm.yaml's %s is not health.lua:\n%s", key, got)
	}
}

// TestArgoCDHookIsARun: the PostSync example is a run the API accepts the
// shape of, marked as the hook Argo CD waits on.
func TestArgoCDHookIsARun(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(gitopsDir, "argocd", "postsync-run.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var run chaosv1alpha1.ExperimentRun
	if err := yaml.UnmarshalStrict(raw, &run); err != nil {
		t.Fatalf("postsync-run.yaml: %v", err)
	}
	if run.Kind != "ExperimentRun" || run.Spec.ExperimentRef.Name == "" || run.Annotations["argocd.argoproj.io/hook"] != "PostSync" {
		t.Errorf("postsync-run.yaml = %s %q, experiment %q, hook %q; want an ExperimentRun of an Experiment, a PostSync hook",
			run.Kind, run.Name, run.Spec.ExperimentRef.Name, run.Annotations["argocd.argoproj.io/hook"])
	}
}

func kstatusOf(t *testing.T, obj map[string]any) kstatus.Status {
	t.Helper()
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	return res.Status
}

// loadArgoCDHealth returns health.lua as Argo CD runs it: in gopher-lua, with
// the object as the global obj, returning a table with status and message.
func loadArgoCDHealth(t *testing.T) func(*testing.T, map[string]any) (status, message string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(gitopsDir, "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, obj map[string]any) (string, string) {
		t.Helper()
		L := lua.NewState(lua.Options{SkipOpenLibs: true})
		defer L.Close()
		// Argo CD opens the base, table, string and math libraries only.
		for _, lib := range []struct {
			name string
			open lua.LGFunction
		}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
			L.Push(L.NewFunction(lib.open))
			L.Push(lua.LString(lib.name))
			L.Call(1, 0)
		}
		L.SetGlobal("obj", toLua(L, obj))
		if err := L.DoString(string(script)); err != nil {
			t.Fatalf("health.lua: %v", err)
		}
		hs, ok := L.Get(-1).(*lua.LTable)
		if !ok {
			t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
		}
		status, _ := hs.RawGetString("status").(lua.LString)
		message, _ := hs.RawGetString("message").(lua.LString)
		switch status {
		case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		default:
			t.Fatalf("health.lua returned status %q, which Argo CD does not know", status)
		}
		return string(status), string(message)
	}
}

// toLua converts a JSON-like value to Lua as Argo CD does: objects and
// arrays to tables (arrays from index 1), numbers, strings and booleans to
// their Lua kinds.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	panic(fmt.Sprintf("toLua: unexpected %T", v))
}

// loadFluxHealth returns the ExperimentRun healthCheckExprs of the Flux
// example as kustomize-controller applies them: a run whose
// observedGeneration differs from its generation is in progress; otherwise
// inProgress, failed and current are evaluated in that order against the
// object, and a run none of them matches is in progress.
func loadFluxHealth(t *testing.T) func(*testing.T, map[string]any) kstatus.Status {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(gitopsDir, "flux", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Wait             bool `json:"wait"`
			HealthCheckExprs []struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				InProgress string `json:"inProgress"`
				Failed     string `json:"failed"`
				Current    string `json:"current"`
			} `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &ks); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if ks.APIVersion != "kustomize.toolkit.fluxcd.io/v1" || ks.Kind != "Kustomization" || !ks.Spec.Wait {
		t.Fatalf("kustomization.yaml is a %s %s (wait %t), want a kustomize.toolkit.fluxcd.io/v1 Kustomization that waits", ks.APIVersion, ks.Kind, ks.Spec.Wait)
	}
	var exprs []struct {
		status kstatus.Status
		prog   cel.Program
	}
	found := false
	for _, h := range ks.Spec.HealthCheckExprs {
		if h.APIVersion != chaosv1alpha1.GroupVersion.String() || h.Kind != "ExperimentRun" {
			continue
		}
		found = true
		if h.Current == "" {
			t.Fatalf("the ExperimentRun health check has no current expression, which Flux requires")
		}
		for _, e := range []struct {
			status kstatus.Status
			src    string
		}{{kstatus.InProgressStatus, h.InProgress}, {kstatus.FailedStatus, h.Failed}, {kstatus.CurrentStatus, h.Current}} {
			if e.src != "" {
				exprs = append(exprs, struct {
					status kstatus.Status
					prog   cel.Program
				}{e.status, fluxProgram(t, e.src)})
			}
		}
	}
	if !found {
		t.Fatalf("kustomization.yaml has no healthCheckExprs for %s ExperimentRun", chaosv1alpha1.GroupVersion)
	}
	return func(t *testing.T, obj map[string]any) kstatus.Status {
		t.Helper()
		u := &unstructured.Unstructured{Object: obj}
		if observed, ok, _ := unstructured.NestedInt64(obj, "status", "observedGeneration"); ok && observed != u.GetGeneration() {
			return kstatus.InProgressStatus
		}
		for _, e := range exprs {
			out, _, err := e.prog.Eval(obj)
			if err != nil {
				// Flux would wait until its timeout: an expression must
				// never fail on a run in any state.
				t.Fatalf("%s expression: %v", e.status, err)
			}
			if out == types.True {
				return e.status
			}
		}
		return kstatus.InProgressStatus
	}
}

// fluxProgram parses src in an environment like kustomize-controller's: the
// object's top-level fields as variables, optional field access and the
// strings extension, and no type checking.
func fluxProgram(t *testing.T, src string) cel.Program {
	t.Helper()
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Parse(src)
	if iss.Err() != nil {
		t.Fatalf("parsing %q: %v", src, iss.Err())
	}
	prog, err := env.Program(ast)
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return prog
}
