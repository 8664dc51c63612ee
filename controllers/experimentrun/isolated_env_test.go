package experimentrun_test

import (
	"context"
	"github.com/faultline-dev/faultline/internal/testenv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
)

// The tests in this file start a manager, whose controllers act on every
// run in the API server. They get an API server of their own, so they never
// drive the runs of the package's other tests, which reconcile by hand.

// isolatedAPIServer starts an API server for one test, with the CRDs of
// config/crd/bases. With lenientExperiments, the Experiment CRD's pattern
// and CEL rules are stripped: that API server stores Experiments the
// hardened schema refuses, as one did before the rules existed, so the
// operator can be shown such objects.
func isolatedAPIServer(t *testing.T, lenientExperiments bool) (*rest.Config, *runtime.Scheme, client.Client) {
	t.Helper()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"chaos.faultline.dev_experiments.yaml", "chaos.faultline.dev_experimentruns.yaml", "chaos.faultline.dev_chaospolicies.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", f))
		if err != nil {
			t.Fatalf("reading CRD: %v", err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			t.Fatalf("decoding CRD %s: %v", f, err)
		}
		if lenientExperiments && crd.Spec.Names.Kind == "Experiment" {
			for i := range crd.Spec.Versions {
				if s := crd.Spec.Versions[i].Schema; s != nil {
					stripRules(s.OpenAPIV3Schema)
				}
			}
		}
		crds = append(crds, crd)
	}
	e := testenv.Start(t, func(env *envtest.Environment) error {
		env.CRDInstallOptions = envtest.CRDInstallOptions{CRDs: crds}
		return nil
	})
	cfg := rest.CopyConfig(e.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return cfg, e.Scheme, c
}

// stripRules removes the patterns and CEL rules of a schema, recursively.
func stripRules(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Pattern, s.XValidations, s.Format = "", nil, ""
	for k, p := range s.Properties {
		stripRules(&p)
		s.Properties[k] = p
	}
	if s.Items != nil {
		stripRules(s.Items.Schema)
	}
	if s.AdditionalProperties != nil {
		stripRules(s.AdditionalProperties.Schema)
	}
}

// operator is a manager running the experiment and experimentrun
// controllers wired as cmd/faultline wires them, on the real clock.
type operator struct {
	mgr  ctrl.Manager
	runs *experimentrun.Reconciler
	// metrics is the registry of the run controller's metrics.
	metrics *prometheus.Registry
}

// startOperator starts the operator against cfg and waits for its caches to
// sync, within syncTimeout: the test fails if they do not. extra adds more
// of the operator's controllers to the manager before it starts.
func startOperator(t *testing.T, cfg *rest.Config, scheme *runtime.Scheme, workers int, syncTimeout time.Duration, extra ...func(ctrl.Manager) error) *operator {
	t.Helper()
	if os.Getenv("FAULTLINE_TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		// A controller whose informer cannot sync fails the manager within
		// this, and the test with it, rather than after the default 2m.
		Controller: config.Controller{SkipNameValidation: ptr.To(true), CacheSyncTimeout: syncTimeout},
	})
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		t.Fatalf("creating the direct client: %v", err)
	}
	c := mgr.GetClient()
	registry := prometheus.NewRegistry()
	runs := &experimentrun.Reconciler{
		Client:      c,
		Experiments: mgr.GetCache(),
		Runs:        mgr.GetCache(),
		APIReader:   mgr.GetAPIReader(),
		Clock:       clock.RealClock{},
		Recorder:    mgr.GetEventRecorder("faultline"),
		Faults: faults.Registry{PodKill: func(spec chaosv1alpha1.PodKillFault) faults.Fault {
			return faults.NewPodKill(direct, spec)
		}},
		Samplers:                &experimentrun.Samplers{Client: c, Secrets: mgr.GetAPIReader()},
		Targets:                 experimentrun.NewSelector(direct, rand.New(rand.NewPCG(1, 2)), "faultline-system", nil),
		Metrics:                 experimentrun.NewMetrics(registry),
		MaxConcurrentReconciles: workers,
	}
	if err := runs.SetupWithManager(mgr); err != nil {
		t.Fatalf("setting up the experimentrun controller: %v", err)
	}
	schedules := &experiment.Reconciler{Client: c, Experiments: mgr.GetCache(), Runs: mgr.GetCache(), Clock: clock.RealClock{}, Recorder: mgr.GetEventRecorder("faultline")}
	if err := schedules.SetupWithManager(mgr); err != nil {
		t.Fatalf("setting up the experiment controller: %v", err)
	}
	for _, add := range extra {
		if err := add(mgr); err != nil {
			t.Fatalf("setting up a controller: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	syncCtx, cancelSync := context.WithTimeout(t.Context(), syncTimeout)
	defer cancelSync()
	// Both controllers' caches must sync: the run controller's and the
	// experiment controller's informers start with them.
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatalf("the manager's caches did not sync within %s", syncTimeout)
	}
	return &operator{mgr: mgr, runs: runs, metrics: registry}
}

// eventually polls cond every 20ms until it holds, failing t after timeout
// with what describe says.
func eventually(t *testing.T, timeout time.Duration, describe func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
