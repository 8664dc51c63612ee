package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"github.com/faultline-dev/faultline/internal/testenv"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestCertRotatorWithItsOwnRBAC runs the certificate rotator as the
// operator's ServiceAccount holding only the rights of
// config/rbac/cert_rotator.yaml, on a real API server, and checks what a
// working install needs: the Secret holds a CA and a serving certificate for
// the webhook Service, both webhook configurations carry that CA, and the
// rotator reports ready. A right missing from the file fails it.
func TestCertRotatorWithItsOwnRBAC(t *testing.T) {
	const namespace = "faultline-system"
	e := testenv.Start(t, nil)
	env, cfg := e.Environment, e.Config
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	var o webhookOptions
	bindWebhookFlags(flag.NewFlagSet("test", flag.ContinueOnError), &o)
	o.certDir = t.TempDir()

	sideEffects := admissionregistrationv1.SideEffectClassNone
	path := "/never-called"
	clientConfig := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: o.serviceName, Path: &path}}
	// Rules for a group nothing serves: the API server never calls them.
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"example.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}},
	}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: o.secretName}},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: o.mutatingName},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "m.example.invalid", ClientConfig: clientConfig, Rules: rules,
				SideEffects: &sideEffects, AdmissionReviewVersions: []string{"v1"},
			}},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: o.validatingName},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "v.example.invalid", ClientConfig: *clientConfig.DeepCopy(), Rules: rules,
				SideEffects: &sideEffects, AdmissionReviewVersions: []string{"v1"},
			}},
		},
	}
	objs = append(objs, readManifests(t, filepath.Join("..", "..", "config", "rbac", "cert_rotator.yaml"))...)
	for _, obj := range objs {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	// The operator, as its ServiceAccount would be seen by RBAC.
	sa, err := env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":faultline",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(sa.Config(), ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(certsReady)
	if err := addCertRotator(mgr, o, namespace, ready); err != nil {
		t.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	// The kubelet's part: bring the Secret into the cert dir.
	secret := &corev1.Secret{}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: o.secretName}, secret); err != nil {
			t.Fatal(err)
		}
		if len(secret.Data["tls.crt"]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotator did not fill the Secret within a minute; see the log for a forbidden request")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(o.certDir, f), secret.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the manager stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the rotator did not report ready within a minute")
	}

	// Read the Secret again: a replica racing to fill it may have rotated once more.
	if err := admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: o.secretName}, secret); err != nil {
		t.Fatal(err)
	}
	caPEM := secret.Data["ca.crt"]
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatalf("ca.crt is not PEM: %q", caPEM)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	serving, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"faultline-webhook-service.faultline-system.svc", "faultline-webhook-service.faultline-system.svc.cluster.local"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("the serving certificate does not verify for %s: %v", name, err)
		}
	}

	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := admin.Get(ctx, client.ObjectKey{Name: o.mutatingName}, m); err != nil {
		t.Fatal(err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := admin.Get(ctx, client.ObjectKey{Name: o.validatingName}, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Webhooks[0].ClientConfig.CABundle, caPEM) {
		t.Errorf("mutating webhook caBundle is not the Secret's CA")
	}
	if !bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, caPEM) {
		t.Errorf("validating webhook caBundle is not the Secret's CA")
	}
}

// readManifests decodes every document of a YAML file into an unstructured object.
func readManifests(t *testing.T, path string) []client.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}
