package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/internal/alertreceiver"
	"github.com/faultline-dev/faultline/internal/testcerts"
)

func TestAlertReceiverIsOffByDefault(t *testing.T) {
	fs := flag.NewFlagSet("faultline", flag.ContinueOnError)
	var o alertReceiverOptions
	bindAlertReceiverFlags(fs, &o)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	runs := &experimentrun.Reconciler{}
	if err := setupAlertReceiver(nil, o, runs, logr.Discard()); err != nil {
		t.Fatalf("with the defaults: %v", err)
	}
	if runs.Notifications != nil || runs.NotificationWakeups != nil {
		t.Error("the receiver is off by default, yet runs were given its record")
	}
}

func TestAlertReceiverFlagsThatCannotStart(t *testing.T) {
	dir := t.TempDir()
	token := writeFile(t, dir, "token", "s3cret\n")
	notPEM := writeFile(t, dir, "tls.crt", "not a certificate")
	for name, tc := range map[string]struct {
		args []string
		// want are the phrases the error must hold: what to pass.
		want []string
	}{
		"enabled without a token, which would let anyone record notifications": {
			args: []string{"--alert-receiver-bind-address=:9444"},
			want: []string{"has no token", "--alert-receiver-token-file", "--alert-receiver-insecure on a test cluster"},
		},
		"a token and insecure at once": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + token, "--alert-receiver-insecure"},
			want: []string{"pass one of them"},
		},
		"a certificate without its key": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + token, "--alert-receiver-tls-cert-file=/tls/tls.crt"},
			want: []string{"go together", "pass both"},
		},
		"a key without its certificate": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + token, "--alert-receiver-tls-key-file=/tls/tls.key"},
			want: []string{"go together"},
		},
		"a token file while the receiver is off": {
			args: []string{"--alert-receiver-token-file=" + token},
			want: []string{"--alert-receiver-token-file needs --alert-receiver-bind-address"},
		},
		"insecure while the receiver is off": {
			args: []string{"--alert-receiver-insecure"},
			want: []string{"--alert-receiver-insecure needs --alert-receiver-bind-address"},
		},
		"a certificate while the receiver is off": {
			args: []string{"--alert-receiver-tls-cert-file=/tls/tls.crt", "--alert-receiver-tls-key-file=/tls/tls.key"},
			want: []string{"--alert-receiver-tls-cert-file needs --alert-receiver-bind-address"},
		},
		"a token file that does not exist": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + filepath.Join(dir, "missing")},
			want: []string{"reading --alert-receiver-token-file"},
		},
		"an empty token file": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + writeFile(t, dir, "empty", "\n")},
			want: []string{"is empty"},
		},
		"a certificate file that is not one": {
			args: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=" + token,
				"--alert-receiver-tls-cert-file=" + notPEM, "--alert-receiver-tls-key-file=" + notPEM},
			want: []string{"loading --alert-receiver-tls-cert-file"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			fs := flag.NewFlagSet("faultline", flag.ContinueOnError)
			var o alertReceiverOptions
			bindAlertReceiverFlags(fs, &o)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			runs := &experimentrun.Reconciler{}
			err := setupAlertReceiver(nil, o, runs, logr.Discard())
			if err == nil {
				t.Fatalf("%v started; want an error saying %q", tc.args, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: %v; want it to say %q", tc.args, err, w)
				}
			}
			if runs.Notifications != nil {
				t.Error("runs were given the record of a receiver that did not start")
			}
		})
	}
}

func TestInsecureAlertReceiverAcceptsAnyoneAndWarns(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, args)
	}, funcr.Options{})
	r, err := newAlertReceiver(alertReceiverOptions{addr: "127.0.0.1:0", insecure: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	warned := strings.Contains(strings.Join(logs, "\n"), "WARNING") && strings.Contains(strings.Join(logs, "\n"), "--alert-receiver-insecure")
	mu.Unlock()
	if !warned {
		t.Errorf("logged %q, want a warning naming --alert-receiver-insecure", logs)
	}
	url := serveReceiver(t, r, "http")
	if code, body := postNotification(t, http.DefaultClient, url, "", "Forged"); code != http.StatusOK {
		t.Errorf("without a token: %d %q, want 200 from an insecure receiver", code, body)
	}
	if _, ok := r.store.First([]string{"Forged"}, time.Now().Add(-time.Hour)); !ok {
		t.Error("the insecure receiver did not record the notification")
	}
}

// TestAlertReceiverAsksForItsTokenFile starts the receiver as the flags
// say and rotates its token file as a Secret rotation would.
func TestAlertReceiverAsksForItsTokenFile(t *testing.T) {
	dir := t.TempDir()
	token := writeFile(t, dir, "token", "first-token\n")
	r, err := newAlertReceiver(alertReceiverOptions{addr: "127.0.0.1:0", tokenFile: token}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	url := serveReceiver(t, r, "http")
	for name, auth := range map[string]string{
		"no token":        "",
		"a wrong token":   "Bearer nope",
		"basic auth":      "Basic Zmlyc3QtdG9rZW4=",
		"the token alone": "first-token",
	} {
		code, body := postNotification(t, http.DefaultClient, url, auth, "Refused")
		if code != http.StatusUnauthorized || strings.Contains(body, "first-token") {
			t.Errorf("%s: %d %q, want 401 not quoting the token", name, code, body)
		}
	}
	if _, ok := r.store.First([]string{"Refused"}, time.Now().Add(-time.Hour)); ok {
		t.Error("a refused notification was recorded")
	}
	if code, body := postNotification(t, http.DefaultClient, url, "Bearer first-token", "Accepted"); code != http.StatusOK {
		t.Errorf("with the token: %d %q, want 200", code, body)
	}

	// A Secret rotation replaces the file; the receiver asks for the new
	// token without a restart.
	next := writeFile(t, dir, "token.next", "second-token\n")
	if err := os.Rename(next, token); err != nil {
		t.Fatal(err)
	}
	if code, _ := postNotification(t, http.DefaultClient, url, "Bearer first-token", "Refused"); code != http.StatusUnauthorized {
		t.Errorf("with the old token after the rotation: %d, want 401", code)
	}
	if code, body := postNotification(t, http.DefaultClient, url, "Bearer second-token", "Rotated"); code != http.StatusOK {
		t.Errorf("with the new token: %d %q, want 200", code, body)
	}
	for _, alert := range []string{"Accepted", "Rotated"} {
		if _, ok := r.store.First([]string{alert}, time.Now().Add(-time.Hour)); !ok {
			t.Errorf("the notification of %s, sent with the token, was not recorded", alert)
		}
	}
}

// TestAlertReceiverServesHTTPSAndFollowsRenewals serves the receiver with
// certificate files, then renews them in place as cert-manager renews a
// mounted Secret: clients trusting the new certificate are served without
// a restart.
func TestAlertReceiverServesHTTPSAndFollowsRenewals(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := newCertificate(t, "first")
	first.write(t, certFile, keyFile)
	token := writeFile(t, dir, "token", "s3cret")
	r, err := newAlertReceiver(alertReceiverOptions{addr: "127.0.0.1:0", tokenFile: token, tlsCertFile: certFile, tlsKeyFile: keyFile}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if r.certs == nil {
		t.Fatal("no certificate watcher for a receiver given certificate files")
	}
	go func() { _ = r.certs.Start(t.Context()) }()
	url := serveReceiver(t, r, "https")

	if code, body := postNotification(t, trusting(first), url, "Bearer s3cret", "OverHTTPS"); code != http.StatusOK {
		t.Fatalf("over HTTPS with the token: %d %q, want 200", code, body)
	}
	if _, ok := r.store.First([]string{"OverHTTPS"}, time.Now().Add(-time.Hour)); !ok {
		t.Error("the notification sent over HTTPS was not recorded")
	}
	if code, _, err := tryPost(http.DefaultClient, strings.Replace(url, "https://", "http://", 1), "Bearer s3cret", "OverHTTP"); err == nil && code == http.StatusOK {
		t.Error("a plain HTTP request to the HTTPS receiver was answered 200")
	}
	if _, ok := r.store.First([]string{"OverHTTP"}, time.Now().Add(-time.Hour)); ok {
		t.Error("a plain HTTP request to the HTTPS receiver was recorded")
	}

	second := newCertificate(t, "second")
	if _, _, err := tryPost(trusting(second), url, "Bearer s3cret", "Renewed"); err == nil {
		t.Fatal("a client trusting only the next certificate was served before the renewal")
	}
	second.write(t, certFile, keyFile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := tryPost(trusting(second), url, "Bearer s3cret", "Renewed")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the certificate files were renewed, a client trusting the new certificate still gets %d, %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveReceiver serves r on a new local listener until the test ends and
// returns the webhook's URL.
func serveReceiver(t *testing.T, r *alertReceiver, scheme string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.server.Serve(t.Context(), ln) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	return fmt.Sprintf("%s://%s%s", scheme, ln.Addr(), alertreceiver.Path)
}

func postNotification(t *testing.T, c *http.Client, url, auth, alert string) (int, string) {
	t.Helper()
	code, body, err := tryPost(c, url, auth, alert)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// tryPost sends Alertmanager's notification of alert firing.
func tryPost(c *http.Client, url, auth, alert string) (int, string, error) {
	payload, err := json.Marshal(alertreceiver.Payload{Version: alertreceiver.PayloadVersion, Status: alertreceiver.StatusFiring, Receiver: "faultline",
		Alerts: []alertreceiver.Alert{{Status: alertreceiver.StatusFiring, Labels: map[string]string{"alertname": alert}, StartsAt: time.Now()}}})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(payload)))
	if err != nil {
		return 0, "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// certificate is a self-signed serving certificate for 127.0.0.1.
type certificate struct {
	cert       *x509.Certificate
	certPEM    []byte
	privatePEM []byte
}

func newCertificate(t *testing.T, name string) *certificate {
	t.Helper()
	c := testcerts.SelfSigned(t, "faultline-alert-receiver "+name)
	return &certificate{cert: c.Leaf, certPEM: c.CertPEM, privatePEM: c.KeyPEM}
}

// write puts the certificate and its key in place, each by a rename, as a
// Secret volume's files change.
func (c *certificate) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	for _, f := range []struct {
		path    string
		content []byte
	}{{keyFile, c.privatePEM}, {certFile, c.certPEM}} {
		tmp := writeFile(t, filepath.Dir(f.path), filepath.Base(f.path)+".tmp", string(f.content))
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// trusting is a client that trusts c alone.
func trusting(c *certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}
