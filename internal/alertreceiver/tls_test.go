package alertreceiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// selfSigned is a self-signed serving certificate for 127.0.0.1, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "faultline-alert-receiver"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
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
