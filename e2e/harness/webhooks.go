package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Names of the webhook configurations the suite installs: the generated
// ones of config/webhook/manifests.yaml, pointed at the local operator.
const (
	e2eMutatingWebhook   = "faultline-e2e-mutating"
	e2eValidatingWebhook = "faultline-e2e-validating"
)

// Webhooks are the admission webhook configurations of config/webhook,
// rewritten so that the testbed's apiserver calls the operator running on
// this machine (https://127.0.0.1:<port><path>), with a CA made for the
// run. They stay installed for the whole suite: with failurePolicy Fail, an
// Experiment or run is refused while the operator is down, as in a cluster.
type Webhooks struct {
	// Addr is host:port of the operator's webhook server.
	Addr string
	// CertDir holds tls.crt and tls.key, for --webhook-cert-dir.
	CertDir string
	// CABundle is the PEM CA that signed the serving certificate.
	CABundle []byte

	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
}

// newWebhooks makes a CA and a serving certificate for 127.0.0.1 and
// localhost in a new directory under stateDir, picks a free port, and reads
// the configurations from manifests.
func newWebhooks(stateDir, manifests string) (*Webhooks, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(stateDir, "webhook-certs-")
	if err != nil {
		return nil, err
	}
	ca, err := writeServingCert(dir, time.Now())
	if err != nil {
		return nil, fmt.Errorf("making the webhook certificates: %w", err)
	}
	w := &Webhooks{Addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), CertDir: dir, CABundle: ca}
	if err := w.load(manifests); err != nil {
		return nil, err
	}
	return w, nil
}

// OperatorArgs are the operator's flags for serving these webhooks.
func (w *Webhooks) OperatorArgs() []string {
	host, port, _ := net.SplitHostPort(w.Addr)
	return []string{
		"--webhook-host=" + host,
		"--webhook-port=" + port,
		"--webhook-cert-dir=" + w.CertDir,
		"--webhook-cert-mode=external",
	}
}

// load reads the generated configurations and points every webhook at Addr.
func (w *Webhooks) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the webhook configurations: %w", err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, m); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for i := range m.Webhooks {
				if err := w.pointAtOperator(&m.Webhooks[i].ClientConfig); err != nil {
					return fmt.Errorf("%s: webhook %s: %w", path, m.Webhooks[i].Name, err)
				}
			}
			m.ObjectMeta = metav1.ObjectMeta{Name: e2eMutatingWebhook}
			w.mutating = m
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for i := range v.Webhooks {
				if err := w.pointAtOperator(&v.Webhooks[i].ClientConfig); err != nil {
					return fmt.Errorf("%s: webhook %s: %w", path, v.Webhooks[i].Name, err)
				}
			}
			v.ObjectMeta = metav1.ObjectMeta{Name: e2eValidatingWebhook}
			w.validating = v
		case "":
			// An empty document between separators.
		default:
			return fmt.Errorf("%s: unexpected kind %q", path, meta.Kind)
		}
	}
	if w.mutating == nil || w.validating == nil {
		return fmt.Errorf("%s: want a MutatingWebhookConfiguration and a ValidatingWebhookConfiguration", path)
	}
	return nil
}

func (w *Webhooks) pointAtOperator(c *admissionregistrationv1.WebhookClientConfig) error {
	if c.Service == nil || c.Service.Path == nil {
		return errors.New("no service path to rewrite")
	}
	url := "https://" + w.Addr + *c.Service.Path
	c.Service, c.URL, c.CABundle = nil, &url, w.CABundle
	return nil
}

// Install creates the configurations, replacing any left by an earlier run.
func (w *Webhooks) Install(ctx context.Context, c client.Client) error {
	if err := w.Uninstall(ctx, c); err != nil {
		return err
	}
	for _, obj := range []client.Object{w.mutating.DeepCopy(), w.validating.DeepCopy()} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("installing webhook configuration %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// Uninstall deletes the configurations; absent ones are fine.
func (w *Webhooks) Uninstall(ctx context.Context, c client.Client) error {
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: e2eMutatingWebhook}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: e2eValidatingWebhook}},
	} {
		if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("removing webhook configuration %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// WaitAnswering waits until the apiserver gets an answer from the webhooks,
// by a server-side dry-run create of an ExperimentRun: a dry run goes
// through admission like a real request but stores nothing. Success, or a
// refusal the webhook wrote ("denied the request"), proves the apiserver
// reached the operator; anything else ("failed calling webhook: ...
// connection refused") means it did not yet.
func (w *Webhooks) WaitAnswering(ctx context.Context, c client.Client, timeout time.Duration) error {
	return Poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		run := &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: ShopNamespace, Name: "e2e-webhook-probe"},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "e2e-webhook-probe"}},
		}
		err := c.Create(ctx, run, client.DryRunAll)
		if err == nil || strings.Contains(err.Error(), "denied the request") {
			return true, nil
		}
		return false, err
	})
}

// UninstallWebhooks removes the suite's webhook configurations until the
// test ends, e.g. to store what admission would refuse. Skips the test when
// the suite runs no operator (and so installs no webhooks).
func (t *Testbed) UninstallWebhooks(tt testing.TB) {
	tt.Helper()
	t.RequireOperator(tt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.Webhooks.Uninstall(ctx, t.Client); err != nil {
		tt.Fatal(err)
	}
	tt.Cleanup(func() { t.InstallWebhooks(tt) })
}

// InstallWebhooks puts the suite's webhook configurations back and waits
// until the apiserver reaches the operator through them; a no-op but for
// the wait if they are installed.
func (t *Testbed) InstallWebhooks(tt testing.TB) {
	tt.Helper()
	t.RequireOperator(tt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.Webhooks.Install(ctx, t.Client); err != nil {
		tt.Fatal(err)
	}
	if t.Operator.Running() {
		if err := t.Webhooks.WaitAnswering(ctx, t.Client, 30*time.Second); err != nil {
			tt.Fatalf("the apiserver does not reach the operator's webhooks: %v", err)
		}
	}
}

// ensureE2EPolicy creates or updates the ChaosPolicy "default" so that runs
// may query the testbed's Prometheus: admission refuses a provider address
// the policy does not list. Only the allow-list is touched; the tests set
// the rest (pause, limits) themselves.
func (t *Testbed) ensureE2EPolicy(ctx context.Context) error {
	addr := "http://" + t.PrometheusAddr
	p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}}
	err := t.Client.Get(ctx, client.ObjectKeyFromObject(p), p)
	switch {
	case IsNotFound(err):
		p.Spec.AllowedProviderAddresses = []string{addr}
		if err := t.Client.Create(ctx, p); err != nil {
			return fmt.Errorf("creating the ChaosPolicy %s: %w", p.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading the ChaosPolicy %s: %w", p.Name, err)
	}
	for _, a := range p.Spec.AllowedProviderAddresses {
		if a == addr {
			return nil
		}
	}
	base := p.DeepCopy()
	p.Spec.AllowedProviderAddresses = append(p.Spec.AllowedProviderAddresses, addr)
	if err := t.Client.Patch(ctx, p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("allowing %s in the ChaosPolicy %s: %w", addr, p.Name, err)
	}
	return nil
}

// writeServingCert writes a new CA's serving certificate for 127.0.0.1,
// ::1 and localhost to dir as tls.crt and tls.key, valid from an hour
// before now for a day, and returns the CA certificate as PEM.
func writeServingCert(dir string, now time.Time) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "faultline-e2e-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serving := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, serving, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
