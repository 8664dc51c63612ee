package charttest_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The paths the chart mounts the receiver's Secrets at, as its flags name
// them.
const (
	tokenFlag = "--alert-receiver-token-file=/etc/faultline/alert-receiver/token"
	certFlag  = "--alert-receiver-tls-cert-file=/etc/faultline/alert-receiver-tls/tls.crt"
	keyFlag   = "--alert-receiver-tls-key-file=/etc/faultline/alert-receiver-tls/tls.key"
)

// TestAlertReceiverAsksForAToken checks that enabling the receiver never
// leaves it open: by default the chart makes a random token, mounts it and
// passes its file; an existing Secret can stand in; only insecure, said
// explicitly, drops the token.
func TestAlertReceiverAsksForAToken(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		// secret is the token Secret the pod mounts; empty: none.
		secret string
		// made: the chart renders that Secret itself.
		made     bool
		insecure bool
	}{
		"enabled with the defaults, the chart makes the token": {
			args:   []string{"--set", "alertReceiver.enabled=true"},
			secret: "faultline-alert-receiver-token", made: true,
		},
		"an existing Secret instead": {
			args:   []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tokenSecret=alertmanager-token"},
			secret: "alertmanager-token",
		},
		"insecure, for a test cluster": {
			args:     []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.insecure=true"},
			insecure: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "faultline-system", tc.args...)
			pod := podTemplate(t, oneOf(t, objs, "Deployment", "faultline"))
			args := pod.Spec.Containers[0].Args
			if got := slices.Contains(args, tokenFlag); got == tc.insecure {
				t.Errorf("operator args %v: %s present = %v, want %v", args, tokenFlag, got, !tc.insecure)
			}
			if got := slices.Contains(args, "--alert-receiver-insecure"); got != tc.insecure {
				t.Errorf("operator args %v: --alert-receiver-insecure present = %v, want %v", args, got, tc.insecure)
			}
			made := secretNamed(objs, "faultline-alert-receiver-token")
			if (made != nil) != tc.made {
				t.Fatalf("the chart rendered the Secret faultline-alert-receiver-token: %v, want %v", made != nil, tc.made)
			}
			if made != nil {
				token := secretToken(t, made)
				if !regexp.MustCompile(`^[A-Za-z0-9]{48}$`).MatchString(token) {
					t.Errorf("the chart's token is %d characters %q, want 48 random letters and digits", len(token), token)
				}
				// A token written in the chart would be everyone's.
				again := secretToken(t, secretNamed(render(t, "faultline-system", tc.args...), "faultline-alert-receiver-token"))
				if again == token {
					t.Error("two installs render the same token: it is not random")
				}
				if made.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Error("the token Secret is not kept on uninstall: a reinstall would refuse Alertmanager's copy")
				}
			}
			volume, mounted := secretVolume(pod, "alert-receiver-token"), mountedAt(pod, "alert-receiver-token")
			if tc.secret == "" {
				if volume != nil {
					t.Errorf("an insecure receiver mounts token Secret %s", volume.SecretName)
				}
				return
			}
			if volume == nil || volume.SecretName != tc.secret || mounted != "/etc/faultline/alert-receiver" {
				t.Fatalf("token volume %+v mounted at %q, want Secret %s at /etc/faultline/alert-receiver", volume, mounted, tc.secret)
			}
			if len(volume.Items) != 1 || volume.Items[0].Key != "token" || volume.Items[0].Path != "token" {
				t.Errorf("token volume items %+v, want the key token as the file token", volume.Items)
			}
		})
	}
}

// TestAlertReceiverServesTLS checks where the receiver's certificate comes
// from: a Secret of the user's, or cert-manager issuing one for the names
// Alertmanager calls the Service by.
func TestAlertReceiverServesTLS(t *testing.T) {
	for name, tc := range map[string]struct {
		args   []string
		secret string
		// issued: cert-manager's Certificate is rendered, from issuer.
		issued bool
		issuer string
	}{
		"from an existing Secret": {
			args:   []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true", "--set", "alertReceiver.tls.secretName=my-receiver-tls"},
			secret: "my-receiver-tls",
		},
		"issued by cert-manager's self-signed Issuer": {
			args:   []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true", "--set", "certManager.enabled=true"},
			secret: "faultline-alert-receiver-tls", issued: true, issuer: "faultline-selfsigned",
		},
		"issued by the webhook's issuer": {
			args: []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true", "--set", "certManager.enabled=true",
				"--set", "certManager.issuerRef.name=corp-ca", "--set", "certManager.issuerRef.kind=ClusterIssuer"},
			secret: "faultline-alert-receiver-tls", issued: true, issuer: "corp-ca",
		},
		"an existing Secret wins over cert-manager": {
			args: []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true", "--set", "alertReceiver.tls.secretName=my-receiver-tls",
				"--set", "certManager.enabled=true"},
			secret: "my-receiver-tls",
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "faultline-system", tc.args...)
			pod := podTemplate(t, oneOf(t, objs, "Deployment", "faultline"))
			args := pod.Spec.Containers[0].Args
			if !slices.Contains(args, certFlag) || !slices.Contains(args, keyFlag) || !slices.Contains(args, tokenFlag) {
				t.Errorf("operator args %v, want %s, %s and the token", args, certFlag, keyFlag)
			}
			volume := secretVolume(pod, "alert-receiver-tls")
			if volume == nil || volume.SecretName != tc.secret || mountedAt(pod, "alert-receiver-tls") != "/etc/faultline/alert-receiver-tls" {
				t.Fatalf("TLS volume %+v, want Secret %s mounted at /etc/faultline/alert-receiver-tls", volume, tc.secret)
			}
			var cert *unstructured.Unstructured
			for _, c := range ofKind(objs, "Certificate") {
				if c.GetName() == "faultline-alert-receiver" {
					cert = c
				}
			}
			if (cert != nil) != tc.issued {
				t.Fatalf("cert-manager Certificate faultline-alert-receiver rendered: %v, want %v", cert != nil, tc.issued)
			}
			if cert == nil {
				return
			}
			secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			if secretName != tc.secret || issuer != tc.issuer {
				t.Errorf("the Certificate fills %s from issuer %s, want %s from %s", secretName, issuer, tc.secret, tc.issuer)
			}
			for _, want := range []string{"faultline-alert-receiver.faultline-system", "faultline-alert-receiver.faultline-system.svc"} {
				if !slices.Contains(dnsNames, want) {
					t.Errorf("the Certificate's dnsNames %v lack %s, a name Alertmanager calls the Service by", dnsNames, want)
				}
			}
		})
	}
}

// TestAlertReceiverTokenIsKeptAcrossUpgrades renders the chart against the
// API server, where the chart's token Secret already exists: an upgrade
// must keep the token Alertmanager was given, not make a new one.
func TestAlertReceiverTokenIsKeptAcrossUpgrades(t *testing.T) {
	if env == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS (hack/tools.sh --print-k8s-dir) to render with lookup")
	}
	ns := releaseNamespace(t)
	const installed = "installed-token-alertmanager-has"
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "faultline-alert-receiver-token", Namespace: ns},
		Data:       map[string][]byte{"token": []byte(installed)},
	}
	if err := env.Client.Create(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.Environment.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	objs := render(t, ns, "--dry-run=server", "--kubeconfig", kubeconfig, "--set", "alertReceiver.enabled=true")
	if got := secretToken(t, secretNamed(objs, "faultline-alert-receiver-token")); got != installed {
		t.Errorf("an upgrade renders token %q, want the installed one, %q", got, installed)
	}
}

func secretNamed(objs []*unstructured.Unstructured, name string) *unstructured.Unstructured {
	for _, o := range ofKind(objs, "Secret") {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

func secretToken(t *testing.T, secret *unstructured.Unstructured) string {
	t.Helper()
	if secret == nil {
		t.Fatal("no token Secret rendered")
	}
	encoded, _, _ := unstructured.NestedString(secret.Object, "data", "token")
	token, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(token) == 0 {
		t.Fatalf("Secret %s: data.token %q is not a base64 token: %v", secret.GetName(), encoded, err)
	}
	return string(token)
}

func oneOf(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range ofKind(objs, kind) {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func secretVolume(pod *corev1.Pod, name string) *corev1.SecretVolumeSource {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return v.Secret
		}
	}
	return nil
}

// mountedAt is where the manager container mounts volume name, or empty.
func mountedAt(pod *corev1.Pod, name string) string {
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		if m.Name == name {
			if !m.ReadOnly || m.SubPath != "" {
				return "read-write or subPath: " + strings.TrimSpace(m.MountPath)
			}
			return m.MountPath
		}
	}
	return ""
}
