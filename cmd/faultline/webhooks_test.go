package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/faultline-dev/faultline/internal/testenv"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func TestWebhookOptionsValidate(t *testing.T) {
	valid := webhookOptions{enabled: true, port: 9443, certMode: certModeRotator}
	cases := map[string]struct {
		change    func(o *webhookOptions)
		namespace string
		wantErr   string
	}{
		"rotator with a namespace is accepted":    {change: func(*webhookOptions) {}, namespace: "faultline-system"},
		"rotator without a namespace is refused":  {change: func(*webhookOptions) {}, wantErr: "--operator-namespace"},
		"external mode needs no namespace":        {change: func(o *webhookOptions) { o.certMode = certModeExternal }},
		"an unknown mode is refused with choices": {change: func(o *webhookOptions) { o.certMode = "manual" }, namespace: "x", wantErr: `write "rotator" or "external"`},
		"port zero is refused":                    {change: func(o *webhookOptions) { o.port = 0 }, namespace: "x", wantErr: "--webhook-port 0"},
		"a port above 65535 is refused":           {change: func(o *webhookOptions) { o.port = 70000 }, namespace: "x", wantErr: "--webhook-port 70000"},
		"disabled webhooks check nothing":         {change: func(o *webhookOptions) { o.enabled = false; o.certMode = "manual" }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			err := o.validate(tc.namespace)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted; want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestWebhookServerWaitsForExternalCertificate starts the webhook server
// with an empty cert dir: the operator must keep running and report not
// ready (rather than fail, as controller-runtime's server alone does), then
// serve the certificate once it appears.
func TestWebhookServerWaitsForExternalCertificate(t *testing.T) {
	dir := t.TempDir()
	port := freeTestPort(t)
	o := webhookOptions{enabled: true, host: "127.0.0.1", port: port, certDir: dir, certMode: certModeExternal}
	srv := newWebhookServer(o, make(certsReady), serverTLSOpts(false))
	srv.Register("/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pong")) }))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})

	started := srv.StartedChecker()
	time.Sleep(1500 * time.Millisecond) // more than one look for the files
	select {
	case err := <-done:
		t.Fatalf("the server returned without a certificate: %v", err)
	default:
	}
	if err := started(nil); err == nil {
		t.Fatal("ready without a certificate")
	}

	pool := writeTestServingCert(t, dir)
	deadline := time.Now().Add(10 * time.Second)
	for started(nil) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 10s after the certificate appeared: %v", started(nil))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		ForceAttemptHTTP2: true, // offer h2, to see it declined
	}}
	resp, err := c.Get("https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/ping")
	if err != nil {
		t.Fatalf("calling the webhook server with the CA: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ping: %s", resp.Status)
	}
	if resp.ProtoMajor != 1 {
		t.Fatalf("served %s; HTTP/2 should be off unless asked for", resp.Proto)
	}
}

// TestWebhookServerStopsCleanlyBeforeCertificate: a shutdown while waiting
// for the certificate is not an error (it would fail the manager's exit).
func TestWebhookServerStopsCleanlyBeforeCertificate(t *testing.T) {
	o := webhookOptions{enabled: true, host: "127.0.0.1", port: freeTestPort(t), certDir: t.TempDir(), certMode: certModeRotator}
	srv := newWebhookServer(o, make(certsReady), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after the context ended")
	}
}

// TestWhoAmI asks a real API server who the client is.
func TestWhoAmI(t *testing.T) {
	e := testenv.Start(t, nil)
	env, cfg := e.Environment, e.Config
	user, err := env.AddUser(envtest.User{Name: "faultline-operator", Groups: []string{"system:authenticated"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(user.Config(), client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	got, err := whoAmI(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got != "faultline-operator" {
		t.Fatalf("whoAmI = %q, want faultline-operator", got)
	}
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeTestServingCert writes tls.crt and tls.key for 127.0.0.1, signed by a
// new CA, into dir and returns a pool with that CA.
func writeTestServingCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The key first: the server waits for both files, and the certificate
	// appearing last is what a real volume update may look like.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}
