package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The testbed's Alertmanager (hack/testbed-lib.sh's ALERTMANAGER_ADDR
// default) and the group_wait and group_interval of its route to the
// operator's receiver (e2e/testbed/alertmanager.yml).
const (
	AlertmanagerAddr          = "127.0.0.1:9093"
	AlertmanagerGroupWait     = 3 * time.Second
	AlertmanagerGroupInterval = 10 * time.Second
)

// RequireAlertmanager fails when the testbed has no Alertmanager, which
// hack/testbed-up.sh starts.
func RequireAlertmanager(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+AlertmanagerAddr+"/-/ready", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the testbed's Alertmanager does not answer at %s (%v): bring the testbed up again with hack/testbed-up.sh", AlertmanagerAddr, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the testbed's Alertmanager is not ready: %s", resp.Status)
	}
}

// WaitAlertGone waits until Alertmanager holds no alert named name.
func WaitAlertGone(t testing.TB, name string) {
	t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", name)}}
	WaitFor(t, 2*time.Minute, name+" to be gone from Alertmanager", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+AlertmanagerAddr+"/api/v2/alerts?"+q.Encode(), nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return false, err
		}
		if s := strings.TrimSpace(string(body)); s != "[]" {
			return false, fmt.Errorf("alertmanager still holds it: %.200s", s)
		}
		return true, nil
	})
}
