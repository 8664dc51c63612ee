package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The operator's identity on the testbed: a ServiceAccount holding exactly
// the ClusterRole controller-gen generates (config/rbac/role.yaml), as in a
// cluster. Running it as the testbed admin would hide a missing right, and
// would make the operator and the tests the same user, which the webhooks
// tell apart.
const (
	OperatorNamespace      = "faultline-system"
	OperatorServiceAccount = "faultline"
)

// operatorKubeconfig sets up the operator's ServiceAccount and its rights
// and writes a kubeconfig with a token for it into stateDir. The token
// lives for a day, longer than any suite.
func (t *Testbed) operatorKubeconfig(ctx context.Context) (string, error) {
	b, err := os.ReadFile(filepath.Join(t.RepoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(b, role); err != nil {
		return "", fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: OperatorNamespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: OperatorNamespace, Name: OperatorServiceAccount}},
		role,
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: OperatorNamespace, Name: OperatorServiceAccount}},
		},
	}
	for _, obj := range objs {
		switch obj.(type) {
		case *corev1.Namespace, *corev1.ServiceAccount:
		default:
			// The rules of this tree replace those of an earlier run.
			if err := t.Client.Delete(ctx, obj.DeepCopyObject().(client.Object)); client.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("replacing %T %s: %w", obj, obj.GetName(), err)
			}
		}
		if err := t.Client.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			return "", fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}

	cs, err := kubernetes.NewForConfig(t.Config)
	if err != nil {
		return "", err
	}
	day := int64(24 * 60 * 60)
	tr, err := cs.CoreV1().ServiceAccounts(OperatorNamespace).CreateToken(ctx, OperatorServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &day}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for the operator's ServiceAccount: %w", err)
	}

	cluster := &clientcmdapi.Cluster{
		Server:                   t.Config.Host,
		CertificateAuthority:     t.Config.CAFile,
		CertificateAuthorityData: t.Config.CAData,
		TLSServerName:            t.Config.ServerName,
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = cluster
	cfg.AuthInfos["faultline"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["faultline"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "faultline"}
	cfg.CurrentContext = "faultline"
	path := filepath.Join(t.StateDir, "operator-kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, nil
}
