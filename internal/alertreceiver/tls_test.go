package alertreceiver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testcerts"
	clocktesting "k8s.io/utils/clock/testing"
)

// selfSigned is a self-signed serving certificate for 127.0.0.1, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	c := testcerts.SelfSigned(t, "faultline-alert-receiver")
	return c.TLS, c.Pool()
}

// TestServerServesHTTPS serves the receiver with a certificate: a client
// trusting it is answered, one that does not refuses the server, and plain
// HTTP is refused before the handler sees it.
func TestServerServesHTTPS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(4)
	clk := clocktesting.NewFakeClock(t0)
	h := NewHandler(store, clk)
	h.Token = StaticToken("s3cret")
	srv := &Server{Handler: h, Store: store, Clock: clk,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context(), ln) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	addr := ln.Addr().String()
	// answer is what a request got back; the body is closed inside post.
	type answer struct {
		status int
		tls    *tls.ConnectionState
	}
	post := func(client *http.Client, url string) (answer, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(payload(t, "4", firing("CheckoutAvailabilityLow", t0))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := client.Do(req)
		if err != nil {
			return answer{}, err
		}
		_ = resp.Body.Close()
		return answer{status: resp.StatusCode, tls: resp.TLS}, nil
	}

	plain, err := post(http.DefaultClient, "http://"+addr+Path)
	if err == nil && plain.status == http.StatusOK {
		t.Error("a plain HTTP request to the HTTPS receiver was answered 200")
	}
	if _, ok := store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(-time.Hour)); ok {
		t.Error("a plain HTTP request to the HTTPS receiver was recorded")
	}

	distrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := post(distrusting, "https://"+addr+Path); !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Errorf("a client not trusting the certificate: %v, want a certificate verification error", err)
	}

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := post(trusting, "https://"+addr+Path)
	if err != nil {
		t.Fatalf("a client trusting the certificate: %v", err)
	}
	if resp.status != http.StatusOK || resp.tls == nil || resp.tls.NegotiatedProtocol == "h2" {
		t.Errorf("over HTTPS: %d (TLS %v), want 200 over HTTP/1.1", resp.status, resp.tls != nil)
	}
	if _, ok := store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(-time.Hour)); !ok {
		t.Error("the notification sent over HTTPS was not recorded")
	}
}
