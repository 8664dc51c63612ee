package providers_test

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/providers"
	"github.com/faultline-dev/faultline/experiments/slo"
)

// slothCRDPath is Sloth's CRD as shipped in the github.com/slok/sloth module
// this module builds against, so the schema the objects are created under is
// the one of the types that decode them.
func slothCRDPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/slok/sloth").Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Fatalf("go list -m github.com/slok/sloth: %v: %s", err, exitErr.Stderr)
		}
		t.Fatalf("go list -m github.com/slok/sloth: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go list -m github.com/slok/sloth: module not downloaded (run go mod download github.com/slok/sloth)")
	}
	return filepath.Join(dir, "pkg", "kubernetes", "gen", "crd", "sloth.slok.dev_prometheusservicelevels.yaml")
}

// pyrraCRDPath is the testbed's mirror of Pyrra's CRD.
const pyrraCRDPath = "../../e2e/testbed/crds/pyrra.dev_servicelevelobjectives.yaml"

// sloObjects are what a team keeps: Sloth's and Pyrra's objects in the
// service's namespace and in monitoring, and a ConfigMap of OpenSLO
// documents next to a README.
const sloObjects = `
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: checkout
  namespace: slo-shop
spec:
  service: checkout
  slos:
    - name: requests-availability
      objective: 99.9
      sli:
        events:
          errorQuery: sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[{{.window}}]))
          totalQuery: sum(rate(istio_requests_total{destination_service_name="checkout"}[{{.window}}]))
      alerting:
        pageAlert:
          disable: true
        ticketAlert:
          disable: true
    - name: whole-percent
      objective: 99
      sli:
        raw:
          errorRatioQuery: checkout:error_ratio:rate{{.window}}
      alerting: {}
    - name: plugin
      objective: 99
      sli:
        plugin:
          id: sloth-common/kubernetes/apiserver/availability
      alerting: {}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: checkout-errors
  namespace: slo-monitoring
spec:
  target: "99.5"
  window: 4w
  description: Checkout requests answered without a server error.
  indicator:
    ratio:
      errors:
        metric: istio_requests_total{destination_service_name="checkout",response_code=~"5.."}
      total:
        metric: istio_requests_total{destination_service_name="checkout"}
      grouping: [destination_workload]
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: ratio-target
  namespace: slo-shop
spec:
  target: "0.995"
  window: 4w
  indicator:
    bool_gauge:
      metric: probe_success{job="checkout"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: slos
  namespace: slo-shop
data:
  README.md: |
    # Checkout's SLOs
    : these are: [not YAML
  checkout.yaml: |
    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: checkout-availability
    spec:
      service: checkout
      budgetingMethod: Occurrences
      timeWindow:
        - duration: 28d
          isRolling: true
      objectives:
        - target: 0.999
      indicator:
        metadata:
          name: checkout-errors
        spec:
          ratioMetric:
            counter: true
            bad:
              metricSource:
                type: Prometheus
                spec:
                  query: istio_requests_total{destination_service_name="checkout",response_code=~"5.."}
            total:
              metricSource:
                type: Prometheus
                spec:
                  query: istio_requests_total{destination_service_name="checkout"}
  cart.yaml: |
    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: cart-availability
    spec:
      service: cart
      budgetingMethod: Timeslices
      timeWindow:
        - duration: 7d
          isRolling: true
      objectives:
        - target: 0.99
      indicatorRef: cart-errors
`

// TestResolveSLO reads real objects of each kind from envtest's API server:
// first without Sloth's and Pyrra's CRDs, then with them.
func TestResolveSLO(t *testing.T) {
	if apiConfig == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (hack/tools.sh --print-k8s-dir), and do not pass -short")
	}
	ctx := t.Context()
	// A client made before the CRDs are installed, as the operator's is
	// when Sloth or Pyrra come later: it must find the kinds once they are.
	c, err := client.New(apiConfig, client.Options{Scheme: apiScheme})
	if err != nil {
		t.Fatal(err)
	}
	sloth := chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests-availability"}}
	pyrra := chaosv1alpha1.SLORef{Pyrra: &chaosv1alpha1.PyrraSLORef{Name: "checkout-errors", Namespace: "slo-monitoring"}}

	crdInstalled := func(name string) bool {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		return c.Get(ctx, client.ObjectKey{Name: name}, crd) == nil
	}
	if crdInstalled("prometheusservicelevels.sloth.slok.dev") || crdInstalled("servicelevelobjectives.pyrra.dev") {
		t.Log("the CRDs are installed already (a repeated run); not checking the error without them")
	} else {
		for name, ref := range map[string]chaosv1alpha1.SLORef{"sloth": sloth, "pyrra": pyrra} {
			_, err := providers.ResolveSLO(ctx, c, "slo-shop", ref)
			if !errors.Is(err, providers.ErrSLOKindNotInstalled) || !strings.Contains(err.Error(), "install its CRD") {
				t.Errorf("%s without its CRD: error %v, want ErrSLOKindNotInstalled saying to install the CRD", name, err)
			}
		}
	}

	if _, err := envtest.InstallCRDs(apiConfig, envtest.CRDInstallOptions{
		Paths:              []string{slothCRDPath(t), pyrraCRDPath},
		ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing Sloth's and Pyrra's CRDs: %v", err)
	}
	for _, ns := range []string{"slo-shop", "slo-monitoring"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	for i, doc := range strings.Split(sloObjects, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if err := c.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}

	tests := map[string]struct {
		ref        chaosv1alpha1.SLORef
		source     string
		objective  float64
		period     time.Duration
		errorRatio string // over 1m
		wantErr    error
		errHas     []string
	}{
		"sloth, in the Experiment's namespace": {
			ref:        sloth,
			source:     "sloth.slok.dev/v1 PrometheusServiceLevel slo-shop/checkout, slo requests-availability",
			objective:  0.999,
			period:     slo.DefaultSlothPeriod,
			errorRatio: `(sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[1m]))) / (sum(rate(istio_requests_total{destination_service_name="checkout"}[1m])))`,
		},
		"sloth objective written as a whole number": {
			ref:        chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "whole-percent"}},
			source:     "sloth.slok.dev/v1 PrometheusServiceLevel slo-shop/checkout, slo whole-percent",
			objective:  0.99,
			period:     slo.DefaultSlothPeriod,
			errorRatio: `(checkout:error_ratio:rate1m)`,
		},
		"sloth SLO the object does not have": {
			ref:     chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "latency"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{`PrometheusServiceLevel slo-shop/checkout has no SLO named "latency"; it has: requests-availability, whole-percent, plugin`},
		},
		"sloth plugin SLI": {
			ref:     chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "plugin"}},
			wantErr: providers.ErrSLOInvalid,
			errHas:  []string{"uses the SLI plugin"},
		},
		"sloth object in another namespace than the one referenced": {
			ref:     chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", Namespace: "slo-monitoring", SLO: "requests-availability"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{"PrometheusServiceLevel slo-monitoring/checkout does not exist", "slo.sloth.name and slo.sloth.namespace"},
		},
		"pyrra, in its own namespace": {
			ref:        pyrra,
			source:     "pyrra.dev/v1alpha1 ServiceLevelObjective slo-monitoring/checkout-errors",
			objective:  0.995,
			period:     28 * 24 * time.Hour,
			errorRatio: `sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[1m]))`,
		},
		"pyrra target written as a ratio": {
			ref:     chaosv1alpha1.SLORef{Pyrra: &chaosv1alpha1.PyrraSLORef{Name: "ratio-target"}},
			wantErr: providers.ErrSLOInvalid,
			errHas:  []string{`spec.target "0.995" reads as 0.995%`, `write "99.5"`},
		},
		"pyrra object that does not exist": {
			ref:     chaosv1alpha1.SLORef{Pyrra: &chaosv1alpha1.PyrraSLORef{Name: "checkout-errors"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{"ServiceLevelObjective slo-shop/checkout-errors does not exist"},
		},
		"openSLO from its key": {
			ref:        chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Key: "checkout.yaml", Name: "checkout-availability"}},
			source:     "openslo/v1 SLO checkout-availability in ConfigMap slo-shop/slos, key checkout.yaml",
			objective:  0.999,
			period:     28 * 24 * time.Hour,
			errorRatio: `sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[1m]))`,
		},
		"openSLO found among the keys, past one that is not YAML": {
			ref:        chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Name: "checkout-availability"}},
			source:     "openslo/v1 SLO checkout-availability in ConfigMap slo-shop/slos, key checkout.yaml",
			objective:  0.999,
			period:     28 * 24 * time.Hour,
			errorRatio: `sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[1m]))`,
		},
		"openSLO found among the keys but unusable": {
			ref:     chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Name: "cart-availability"}},
			wantErr: providers.ErrSLOInvalid,
			errHas:  []string{"ConfigMap slo-shop/slos, key cart.yaml", "budgetingMethod is Timeslices"},
		},
		"openSLO in no key": {
			ref:     chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Name: "payments"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{`no key of ConfigMap slo-shop/slos holds an openslo/v1 SLO document named "payments" (keys: README.md, cart.yaml, checkout.yaml)`},
		},
		"openSLO key that does not exist": {
			ref:     chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Key: "slos.yaml", Name: "checkout-availability"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{"ConfigMap slo-shop/slos has no key slos.yaml in its data; it has: README.md, cart.yaml, checkout.yaml"},
		},
		"openSLO ConfigMap that does not exist": {
			ref:     chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Namespace: "slo-monitoring", Name: "checkout-availability"}},
			wantErr: providers.ErrSLONotFound,
			errHas:  []string{"ConfigMap slo-monitoring/slos does not exist"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sli, err := providers.ResolveSLO(ctx, c, "slo-shop", tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ResolveSLO = %+v, %v; want %v", sli, err, tc.wantErr)
				}
				for _, want := range tc.errHas {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s | %v | %v", sli.Source, sli.Objective, sli.Period)
			if want := fmt.Sprintf("%s | %v | %v", tc.source, tc.objective, tc.period); got != want {
				t.Errorf("ResolveSLO = %s, want %s", got, want)
			}
			if got := sli.ErrorRatioQuery(time.Minute); got != tc.errorRatio {
				t.Errorf("ErrorRatioQuery(1m) =\n%s\nwant\n%s", got, tc.errorRatio)
			}
		})
	}
}
