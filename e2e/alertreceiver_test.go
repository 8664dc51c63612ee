//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// TestAlertReceiverRefusesNotificationsWithoutItsToken sends the operator's
// receiver, while a run waits for a notification of its detection alert,
// notifications of that alert without the receiver's token or with a wrong
// one: each is refused with 401 and a body saying why, never quoting the
// token. Then one with the token: the run's notifiedAt is that one, which
// came last, so none of the refused ones was recorded (the run takes the
// first notification after the injection).
func TestAlertReceiverRefusesNotificationsWithoutItsToken(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RequireOperator(t)
	raw, err := os.ReadFile(tb.AlertReceiverTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	// An alert no rule fires, so only this test's notifications name it;
	// a 1% abort keeps cart's steady state while the run waits.
	const alert = "E2EForgedNotification"
	exp := tb.IstioExperiment("e2e-forged-notification", harness.AbortFault(1), 20*time.Second)
	exp.Spec.Detection = &chaosv1alpha1.DetectionSpec{Alerts: []string{alert}}
	exp.Spec.Objectives.NotifyWithin = &metav1.Duration{Duration: time.Minute}
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	harness.WaitFor(t, 2*time.Minute, "run "+run.Name+" to inject its fault", func(ctx context.Context) (bool, error) {
		got := &chaosv1alpha1.ExperimentRun{}
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		if got.Status.Phase == chaosv1alpha1.PhaseCompleted {
			return false, fmt.Errorf("%w: the run completed before injecting: %s", harness.ErrGiveUp, got.Status.Message)
		}
		return got.Status.Timeline.InjectedAt != nil, fmt.Errorf("phase %q", got.Status.Phase)
	})

	for name, tc := range map[string]struct {
		auth, says string
	}{
		"no Authorization header":          {"", "no Authorization header"},
		"a wrong bearer token":             {"Bearer not-the-receivers-token", "bearer token is not the receiver's"},
		"the token and one character more": {"Bearer " + token + "x", "bearer token is not the receiver's"},
		"the token as basic auth":          {"Basic " + base64.StdEncoding.EncodeToString([]byte("faultline:"+token)), `scheme is "Basic"`},
		"the token without its scheme":     {token, "not a bearer token"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := notifyReceiver(t, tc.auth, alert, "forged")
			if code != http.StatusUnauthorized || !strings.Contains(body, tc.says) {
				t.Errorf("%d %q, want 401 saying %q", code, body, tc.says)
			}
			if strings.Contains(body, token) {
				t.Errorf("the refusal quotes the receiver's token: %q", body)
			}
		})
	}
	refusedBy := time.Now()

	if code, body := notifyReceiver(t, "Bearer "+token, alert, "e2e-authentic"); code != http.StatusOK {
		t.Fatalf("with the token: %d %q, want 200", code, body)
	}
	got := tb.WaitRunCompleted(t, run, 3*time.Minute)
	tl, n := got.Status.Timeline, got.Status.Notification
	if tl.NotifiedAt == nil || n == nil {
		t.Fatalf("the run recorded no notification (timeline %+v, notification %+v); the one sent with the token should be", tl, n)
	}
	if n.Receiver != "e2e-authentic" || n.Alert != alert || tl.NotifiedAt.Time.Before(refusedBy.Add(-time.Millisecond)) {
		t.Errorf("notifiedAt %s from receiver %q (alert %s), want the notification sent with the token after %s, from e2e-authentic: a refused one was recorded",
			tl.NotifiedAt.Format(time.RFC3339Nano), n.Receiver, n.Alert, refusedBy.Format(time.RFC3339Nano))
	}
}

// notifyReceiver posts the operator's receiver a notification, as
// Alertmanager's webhook would, of alert firing from the Alertmanager
// receiver named receiver, with the Authorization header auth.
func notifyReceiver(t *testing.T, auth, alert, receiver string) (int, string) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": receiver, "groupKey": fmt.Sprintf(`{}:{alertname=%q}`, alert),
		"alerts": []map[string]any{{"status": "firing", "labels": map[string]string{"alertname": alert}, "startsAt": time.Now().Format(time.RFC3339Nano)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+harness.OperatorAlertReceiverAddr+"/alertmanager", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the operator's alert receiver at %s: %v", harness.OperatorAlertReceiverAddr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body)
}
