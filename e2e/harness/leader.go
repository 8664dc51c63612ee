package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// LeaseName is the operator's leader-election Lease (cmd/faultline).
const LeaseName = "faultline.chaos.faultline.dev"

// IsLeader reads controller-runtime's leader_election_master_status gauge.
func IsLeader(ctx context.Context, metricsAddr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "leader_election_master_status{") && strings.Contains(line, `name="`+LeaseName+`"`) {
			return strings.HasSuffix(line, " 1")
		}
	}
	return false
}

// EnsureLeaderElectionRights gives the operator's ServiceAccount the Role
// of config/rbac/role_binding.yaml that leader election needs.
func (t *Testbed) EnsureLeaderElectionRights(tt testing.TB) {
	tt.Helper()
	b, err := os.ReadFile(filepath.Join(t.RepoRoot, "config", "rbac", "role_binding.yaml"))
	if err != nil {
		tt.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tt.Fatal(err)
		}
		var obj client.Object
		switch {
		case bytes.Contains(doc, []byte("\nkind: Role\n")):
			obj = &rbacv1.Role{}
		case bytes.Contains(doc, []byte("\nkind: RoleBinding\n")):
			obj = &rbacv1.RoleBinding{}
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			tt.Fatalf("config/rbac/role_binding.yaml: %v", err)
		}
		if err := t.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			tt.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
}
