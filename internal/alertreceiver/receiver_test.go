package alertreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func payload(t *testing.T, version string, alerts ...Alert) string {
	t.Helper()
	b, err := json.Marshal(Payload{Version: version, GroupKey: `{}:{alertname="x"}`, Status: StatusFiring, Receiver: "faultline", Alerts: alerts})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firing(name string, startsAt time.Time) Alert {
	return Alert{Status: StatusFiring, Labels: map[string]string{"alertname": name, "severity": "page"}, StartsAt: startsAt}
}

type fixture struct {
	srv      *httptest.Server
	store    *Store
	clock    *clocktesting.FakeClock
	handler  *Handler
	mu       sync.Mutex
	notified []string
}

// newFixture serves a Handler asking for token; an empty token serves one
// that is Insecure.
func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	f := &fixture{store: NewStore(16), clock: clocktesting.NewFakeClock(t0)}
	f.handler = NewHandler(f.store, f.clock)
	if token == "" {
		f.handler.Insecure = true
	} else {
		f.handler.Token = StaticToken(token)
	}
	f.handler.MaxBodyBytes = 64 << 10
	f.handler.Notified = func(alerts []string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.notified = append(f.notified, alerts...)
	}
	f.srv = httptest.NewServer(f.handler)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) post(t *testing.T, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReceiverRecordsFiringAlertsAtArrival(t *testing.T) {
	f := newFixture(t, "")
	injected := t0.Add(-10 * time.Second)
	f.clock.SetTime(t0.Add(2 * time.Second))
	resolved := firing("CartDown", injected)
	resolved.Status = StatusResolved
	code, body := f.post(t, Path+"?groupWait=30s", "", payload(t, "4",
		firing("CheckoutAvailabilityLow", injected.Add(4*time.Second)), resolved, Alert{Status: StatusFiring, Labels: map[string]string{"job": "no-name"}}))
	if code != http.StatusOK {
		t.Fatalf("POST = %d %q, want 200", code, body)
	}
	n, ok := f.store.First([]string{"CheckoutAvailabilityLow"}, injected)
	if !ok {
		t.Fatal("the firing alert was not recorded")
	}
	if !n.ReceivedAt.Equal(t0.Add(2*time.Second)) || n.Receiver != "faultline" || n.GroupWait != 30*time.Second {
		t.Errorf("recorded %+v, want received at t0+2s from faultline with group_wait 30s", n)
	}
	if _, ok := f.store.First([]string{"CartDown"}, injected); ok {
		t.Error("a resolved alert was recorded as a notification of it firing")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.notified, []string{"CheckoutAvailabilityLow"}) {
		t.Errorf("Notified with %v, want [CheckoutAvailabilityLow]", f.notified)
	}
}

func TestReceiverRefusesWhatIsNotAnAlertmanagerNotification(t *testing.T) {
	f := newFixture(t, "s3cret")
	good := payload(t, "4", firing("CheckoutAvailabilityLow", t0))
	cases := map[string]struct {
		method, url, auth, body string
		code                    int
		says                    string
	}{
		"no token":                       {http.MethodPost, Path, "", good, http.StatusUnauthorized, "no Authorization header"},
		"wrong token":                    {http.MethodPost, Path, "Bearer nope", good, http.StatusUnauthorized, "bearer token is not the receiver's"},
		"the token and more":             {http.MethodPost, Path, "Bearer s3cret2", good, http.StatusUnauthorized, "bearer token is not the receiver's"},
		"a prefix of the token":          {http.MethodPost, Path, "Bearer s3cre", good, http.StatusUnauthorized, "bearer token is not the receiver's"},
		"an empty bearer token":          {http.MethodPost, Path, "Bearer ", good, http.StatusUnauthorized, "bearer token is empty"},
		"basic auth with the token":      {http.MethodPost, Path, "Basic czNjcmV0", good, http.StatusUnauthorized, `scheme is "Basic", not Bearer`},
		"the token without a scheme":     {http.MethodPost, Path, "s3cret", good, http.StatusUnauthorized, "not a bearer token"},
		"the token under another scheme": {http.MethodPost, Path + "?token=s3cret", "Token s3cret", good, http.StatusUnauthorized, `scheme is "Token", not Bearer`},
		"GET":                            {http.MethodGet, Path, "Bearer s3cret", "", http.StatusMethodNotAllowed, "POST"},
		"another path":                   {http.MethodPost, "/api/v1/alerts", "Bearer s3cret", good, http.StatusNotFound, Path},
		"not JSON":                       {http.MethodPost, Path, "Bearer s3cret", "<html>", http.StatusBadRequest, "not Alertmanager webhook JSON"},
		"another payload version":        {http.MethodPost, Path, "Bearer s3cret", payload(t, "3", firing("X", t0)), http.StatusBadRequest, "version 4"},
		"a bad groupWait":                {http.MethodPost, Path + "?groupWait=soon", "Bearer s3cret", good, http.StatusBadRequest, "?groupWait=30s"},
		"a body over the limit": {http.MethodPost, Path, "Bearer s3cret",
			payload(t, "4", firing("CheckoutAvailabilityLow", t0), firing(strings.Repeat("x", 70<<10), t0)), http.StatusRequestEntityTooLarge, "max_alerts"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.srv.URL+tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.says) {
				t.Errorf("%s %s = %d %q, want %d saying %q", tc.method, tc.url, resp.StatusCode, b, tc.code, tc.says)
			}
			if resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(b), "s3cret") {
				t.Errorf("the refusal quotes the token: %q", b)
			}
		})
	}
	if _, ok := f.store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(-time.Hour)); ok {
		t.Error("a refused request was recorded")
	}
	// The scheme is case-insensitive (RFC 9110), and Alertmanager may be
	// given a token file ending in a newline, which it trims.
	if code, body := f.post(t, Path, "bearer  s3cret ", good); code != http.StatusOK {
		t.Fatalf("with the token: %d %q, want 200", code, body)
	}
	if _, ok := f.store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(-time.Hour)); !ok {
		t.Error("the authenticated notification was not recorded")
	}
}

func TestReceiverAnswersBusyBeyondItsConcurrency(t *testing.T) {
	f := newFixture(t, "")
	for range cap(f.handler.slots) {
		f.handler.slots <- struct{}{}
	}
	code, _ := f.post(t, Path, "", payload(t, "4", firing("CheckoutAvailabilityLow", t0)))
	if code != http.StatusServiceUnavailable {
		t.Errorf("with every slot taken: %d, want 503 (Alertmanager retries)", code)
	}
	for range cap(f.handler.slots) {
		<-f.handler.slots
	}
	if code, _ := f.post(t, Path, "", payload(t, "4", firing("CheckoutAvailabilityLow", t0))); code != http.StatusOK {
		t.Errorf("with slots free again: %d, want 200", code)
	}
}

func TestStore(t *testing.T) {
	injected := t0
	cases := map[string]struct {
		entries []Notification
		want    time.Time // zero: none
	}{
		"the earliest after the injection": {
			entries: []Notification{
				{ReceivedAt: t0.Add(40 * time.Second), Alert: "A", StartsAt: t0.Add(4 * time.Second)},
				{ReceivedAt: t0.Add(34 * time.Second), Alert: "A", StartsAt: t0.Add(4 * time.Second)},
			},
			want: t0.Add(34 * time.Second),
		},
		"received before the injection, not this run's": {
			entries: []Notification{{ReceivedAt: t0.Add(-time.Second), Alert: "A", StartsAt: t0.Add(-2 * time.Second)}},
		},
		"an alert firing since long before the injection, notified again": {
			entries: []Notification{{ReceivedAt: t0.Add(10 * time.Second), Alert: "A", StartsAt: t0.Add(-time.Hour)}},
		},
		"an alert firing a little before the injection by Prometheus' clock": {
			entries: []Notification{{ReceivedAt: t0.Add(10 * time.Second), Alert: "A", StartsAt: t0.Add(-ClockSkew + time.Second)}},
			want:    t0.Add(10 * time.Second),
		},
		"another alert": {
			entries: []Notification{{ReceivedAt: t0.Add(10 * time.Second), Alert: "B", StartsAt: t0.Add(time.Second)}},
		},
		"the same alert of another namespace, another team's incident": {
			entries: []Notification{
				{ReceivedAt: t0.Add(5 * time.Second), Alert: "A", Namespace: "payments", StartsAt: t0.Add(time.Second)},
				{ReceivedAt: t0.Add(9 * time.Second), Alert: "A", Namespace: "shop", StartsAt: t0.Add(time.Second)},
			},
			want: t0.Add(9 * time.Second),
		},
		"an alert without a namespace label counts for any": {
			entries: []Notification{{ReceivedAt: t0.Add(7 * time.Second), Alert: "A", StartsAt: t0.Add(time.Second)}},
			want:    t0.Add(7 * time.Second),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := NewStore(8)
			s.Add(tc.entries...)
			n, ok := s.FirstIn([]string{"A"}, []string{"shop"}, injected)
			if ok != !tc.want.IsZero() || (ok && !n.ReceivedAt.Equal(tc.want)) {
				t.Errorf("First = %v, %v; want %v", n.ReceivedAt, ok, tc.want)
			}
		})
	}
}

func TestStoreForgetsTheOldestWhenFull(t *testing.T) {
	s := NewStore(4)
	for i := range 6 {
		s.Add(Notification{ReceivedAt: t0.Add(time.Duration(i) * time.Second), Alert: fmt.Sprintf("A%d", i), Receiver: strings.Repeat("r", 1000)})
	}
	for i := range 6 {
		n, ok := s.First([]string{fmt.Sprintf("A%d", i)}, t0)
		if ok != (i >= 2) {
			t.Errorf("A%d kept = %v, want %v (capacity 4)", i, ok, i >= 2)
		}
		if ok && len(n.Receiver) > maxFieldLength {
			t.Errorf("a receiver name of %d bytes was kept whole", len(n.Receiver))
		}
	}
}

func TestServerServesUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(4)
	clk := clocktesting.NewFakeClock(t0)
	h := NewHandler(store, clk)
	h.Insecure = true
	srv := &Server{Handler: h, Store: store, Clock: clk}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String() + Path
	var resp *http.Response
	for range 50 {
		resp, err = http.Post(url, "application/json", strings.NewReader(payload(t, "4", firing("A", t0))))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST = %d, want 200", resp.StatusCode)
	}
	if !store.Started().Equal(t0) {
		t.Errorf("Started = %v, want %v", store.Started(), t0)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if resp, err := http.Post(url, "application/json", strings.NewReader("{}")); err == nil {
		_ = resp.Body.Close()
		t.Error("the server still answers after shutting down")
	}
}
