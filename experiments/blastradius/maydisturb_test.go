package blastradius

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
)

func TestMayDisturb(t *testing.T) {
	rules := Rules{
		AllowedNamespaces:   sets.New("shop", "kube-system"),
		ProtectedNamespaces: sets.New("kube-system"),
		OperatorNamespace:   "faultline-system",
		OperatorLabels:      map[string]string{"app.kubernetes.io/name": "faultline"},
	}
	operatorPod := map[string]string{"app.kubernetes.io/name": "faultline"}
	tests := map[string]struct {
		namespace     string
		labels        map[string]string
		allNamespaces bool
		want          bool
	}{
		"a pod of an enabled namespace may be evicted":                   {namespace: "shop", want: true},
		"a pod of a namespace that did not opt in is spared":             {namespace: "billing", want: false},
		"a pod of a protected namespace is spared even when enabled":     {namespace: "kube-system", want: false},
		"the operator's namespace is spared":                             {namespace: "faultline-system", want: false},
		"the operator's own pod elsewhere is spared":                     {namespace: "shop", labels: operatorPod, want: false},
		"all namespaces: a protected namespace's pod may be evicted":     {namespace: "kube-system", allNamespaces: true, want: true},
		"all namespaces: a namespace that did not opt in may be too":     {namespace: "billing", allNamespaces: true, want: true},
		"all namespaces: the operator's namespace is still spared":       {namespace: "faultline-system", allNamespaces: true, want: false},
		"all namespaces: the operator's own pod elsewhere is spared too": {namespace: "billing", labels: operatorPod, allNamespaces: true, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MayDisturb(tc.namespace, tc.labels, rules, tc.allNamespaces); got != tc.want {
				t.Errorf("MayDisturb(%s, %v, all=%v) = %v, want %v", tc.namespace, tc.labels, tc.allNamespaces, got, tc.want)
			}
		})
	}
}
