package providers_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/providers"
)

func deployment(namespace, name string, replicas *int32, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: replicas},
		Status:     appsv1.DeploymentStatus{ReadyReplicas: ready},
	}
}

func statefulSet(namespace, name string, replicas, ready int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)},
		Status:     appsv1.StatefulSetStatus{ReadyReplicas: ready},
	}
}

func daemonSet(namespace, name string, desired, ready int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Status:     appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, NumberReady: ready},
	}
}

func fakeReader(objects ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objects...).Build()
}

func TestWorkloadReadiness(t *testing.T) {
	midRollout := deployment("shop", "checkout", ptr.To[int32](5), 3)
	midRollout.Generation = 2
	midRollout.Status.ObservedGeneration = 1

	tests := map[string]struct {
		objects  []client.Object
		workload chaosv1alpha1.WorkloadProbe
		want     float64
		wantErr  error
		errHas   string
	}{
		"deployment with all replicas ready, is 100%": {
			objects:  []client.Object{deployment("shop", "checkout", ptr.To[int32](3), 3)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     100,
		},
		"deployment with two of three ready, is two thirds": {
			objects:  []client.Object{deployment("shop", "checkout", ptr.To[int32](3), 2)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     200.0 / 3,
		},
		"deployment surging above its replicas, is capped at 100%": {
			objects:  []client.Object{deployment("shop", "checkout", ptr.To[int32](3), 4)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     100,
		},
		"deployment whose status lags a scale-up, is judged against the new replicas": {
			objects:  []client.Object{midRollout},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     60,
		},
		"deployment without replicas set, desires the default one": {
			objects:  []client.Object{deployment("shop", "checkout", nil, 0)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     0,
		},
		"deployment scaled to zero, is 100%": {
			objects:  []client.Object{deployment("shop", "checkout", ptr.To[int32](0), 0)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			want:     100,
		},
		"statefulset with one of four ready, is 25%": {
			objects:  []client.Object{statefulSet("shop", "db", 4, 1)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadStatefulSet, Name: "db"},
			want:     25,
		},
		"statefulset scaled to zero, is 100%": {
			objects:  []client.Object{statefulSet("shop", "db", 0, 0)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadStatefulSet, Name: "db"},
			want:     100,
		},
		"daemonset with nine of ten nodes ready, is 90%": {
			objects:  []client.Object{daemonSet("shop", "agent", 10, 9)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDaemonSet, Name: "agent"},
			want:     90,
		},
		"daemonset scheduled on no node, is 100%": {
			objects:  []client.Object{daemonSet("shop", "agent", 0, 0)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDaemonSet, Name: "agent"},
			want:     100,
		},
		"workload namespace set, overrides the default": {
			objects: []client.Object{
				deployment("shop", "checkout", ptr.To[int32](2), 2),
				deployment("payments", "checkout", ptr.To[int32](2), 1),
			},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", Namespace: "payments"},
			want:     50,
		},
		"missing deployment, says it does not exist": {
			objects:  []client.Object{deployment("payments", "checkout", ptr.To[int32](2), 2)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout"},
			wantErr:  providers.ErrWorkloadNotFound,
			errHas:   "Deployment shop/checkout",
		},
		"statefulset asked for by a deployment's name, says it does not exist": {
			objects:  []client.Object{deployment("shop", "checkout", ptr.To[int32](2), 2)},
			workload: chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadStatefulSet, Name: "checkout"},
			wantErr:  providers.ErrWorkloadNotFound,
			errHas:   "StatefulSet shop/checkout",
		},
		"unknown kind, is an error": {
			workload: chaosv1alpha1.WorkloadProbe{Kind: "ReplicaSet", Name: "checkout"},
			errHas:   "ReplicaSet",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := providers.WorkloadReadiness(t.Context(), fakeReader(tt.objects...), "shop", tt.workload)

			wantErr := tt.wantErr != nil || tt.errHas != ""
			if (err != nil) != wantErr {
				t.Fatalf("WorkloadReadiness() = %v, %v; want error: %v", got, err, wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("WorkloadReadiness() error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if tt.errHas != "" && !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("WorkloadReadiness() error = %q, want it to mention %q", err, tt.errHas)
			}
			if !wantErr && math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("WorkloadReadiness() = %v, want %v", got, tt.want)
			}
		})
	}
}
