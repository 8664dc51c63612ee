package alertreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// TestRealAlertmanagerNotifiesTheReceiver starts the Alertmanager that
// hack/tools.sh builds, routes an alert to the receiver with a bearer token
// from a credentials_file and a group_wait, and checks the notification arrives, is recorded, and
// comes group_wait after the alert reached Alertmanager.
func TestRealAlertmanagerNotifiesTheReceiver(t *testing.T) {
	bin := alertmanagerBinary(t)
	const groupWait = 1 * time.Second
	store := NewStore(16)
	h := NewHandler(store, clock.RealClock{})
	dir := t.TempDir()
	// The token as the README wires it: a file both sides read, Alertmanager
	// through http_config.authorization.credentials_file.
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := OpenTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	h.Token = tokens
	notified := make(chan []string, 4)
	h.Notified = func(alerts []string) { notified <- alerts }
	recv := httptest.NewServer(h)
	t.Cleanup(recv.Close)

	config := fmt.Sprintf(`route:
  receiver: team-pager
  group_by: [alertname]
  group_wait: %s
  group_interval: 10s
  repeat_interval: 1h
  routes:
  - receiver: faultline
    continue: true
receivers:
- name: team-pager
- name: faultline
  webhook_configs:
  - url: %s%s?groupWait=%s
    send_resolved: false
    http_config:
      authorization:
        credentials_file: %s
`, groupWait, recv.URL, Path, groupWait, tokenFile)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--storage.path="+filepath.Join(dir, "data"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitFor(t, 30*time.Second, "Alertmanager's /-/ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	startsAt := time.Now()
	body, _ := json.Marshal([]map[string]any{{
		"labels":   map[string]string{"alertname": "CheckoutAvailabilityLow", "service": "checkout", "severity": "page"},
		"startsAt": startsAt.Format(time.RFC3339Nano),
	}})
	posted := time.Now()
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting the alert to Alertmanager: %s", resp.Status)
	}

	select {
	case alerts := <-notified:
		if len(alerts) != 1 || alerts[0] != "CheckoutAvailabilityLow" {
			t.Errorf("Notified with %v, want [CheckoutAvailabilityLow]", alerts)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Alertmanager did not notify the receiver within 20s")
	}
	n, ok := store.First([]string{"CheckoutAvailabilityLow"}, posted.Add(-time.Second))
	if !ok {
		t.Fatal("the notification was not recorded")
	}
	if n.Receiver != "faultline" || n.GroupWait != groupWait || n.StartsAt.Sub(startsAt).Abs() > time.Millisecond {
		t.Errorf("recorded %+v, want receiver faultline, group_wait %s, startsAt %v", n, groupWait, startsAt)
	}
	// Alertmanager holds a new group's first notification for group_wait.
	delay := n.ReceivedAt.Sub(posted)
	t.Logf("alert posted → notification received: %s (group_wait %s)", delay, groupWait)
	if delay < groupWait-100*time.Millisecond || delay > groupWait+3*time.Second {
		t.Errorf("the notification came %s after the alert reached Alertmanager, want about group_wait %s", delay, groupWait)
	}
}

// alertmanagerBinary is bin/alertmanager of the repository, built by
// hack/tools.sh; the test skips without it.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", "bin", "alertmanager")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is missing: run hack/tools.sh alertmanager to build it (make e2e does)", bin)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
