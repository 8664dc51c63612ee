package harness

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RenderChart renders the chart's templates with its default values into
// namespace with the helm the repository builds (bin/helm; `make
// chart-tools`), as internal/charttest does.
func (t *Testbed) RenderChart(tt testing.TB, namespace string, templates ...string) []*unstructured.Unstructured {
	tt.Helper()
	helm := filepath.Join(t.RepoRoot, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		tt.Fatalf("%s is missing (%v): build it with `hack/tools.sh helm` (make chart-tools)", helm, err)
	}
	args := []string{"template", "faultline", filepath.Join(t.RepoRoot, "charts", "faultline"), "--namespace", namespace}
	for _, tmpl := range templates {
		args = append(args, "--show-only", tmpl)
	}
	home := tt.TempDir()
	cmd := exec.CommandContext(tt.Context(), helm, args...)
	// A home of its own: neither the user's helm configuration nor
	// repositories take part.
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tt.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tt.Fatalf("helm template printed invalid YAML: %v", err)
		}
		if len(obj) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	return objs
}

// ContainerArgs are the args of a rendered Deployment's first container.
func ContainerArgs(t testing.TB, deploy *unstructured.Unstructured) []string {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) == 0 {
		t.Fatalf("the rendered Deployment has no containers (%v)", err)
	}
	args, _, err := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	if err != nil {
		t.Fatalf("the rendered container's args: %v", err)
	}
	return args
}

// ServiceAccountKubeconfig writes a kubeconfig for the testbed with a token
// of namespace/name, valid for an hour, as a pod of that ServiceAccount has.
func (t *Testbed) ServiceAccountKubeconfig(tt testing.TB, namespace, name string) string {
	tt.Helper()
	cs, err := kubernetes.NewForConfig(t.Config)
	if err != nil {
		tt.Fatal(err)
	}
	hour := int64(60 * 60)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(tt.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		tt.Fatalf("requesting a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{
		Server:                   t.Config.Host,
		CertificateAuthority:     t.Config.CAFile,
		CertificateAuthorityData: t.Config.CAData,
		TLSServerName:            t.Config.ServerName,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(tt.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tt.Fatal(err)
	}
	return path
}
