package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/faultline-dev/faultline/internal/access"
	"github.com/faultline-dev/faultline/webhooks"
)

// The operator's own rights beyond what its controllers use, which
// controller-gen collects into the faultline-manager ClusterRole: the
// admission webhooks check requesters' rights with SubjectAccessReviews, and
// the metrics endpoint (--metrics-secure) authenticates and authorizes its
// callers with TokenReviews and SubjectAccessReviews. The SelfSubjectReview
// the operator sends at start needs no rule: every authenticated user may
// create one (the system:basic-user ClusterRole).
//
// The certificate rotator's rights depend on the certificate mode and are
// therefore not markers: they are in config/rbac/cert_rotator.yaml and the
// chart's templates/cert-rotator-rbac.yaml (the Secret in the operator's
// namespace only; the two webhook configurations by name).
//
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// Certificate modes: who provides the webhook server's serving certificate.
const (
	// certModeRotator: the operator keeps a CA and a serving certificate in a
	// Secret of its namespace, renews them before they expire, and writes the
	// CA bundle into the Faultline webhook configurations. The Secret is
	// mounted at the cert dir; nothing else need be installed.
	certModeRotator = "rotator"
	// certModeExternal: something else (cert-manager, an administrator, the
	// e2e suite) puts tls.crt and tls.key into the cert dir and the CA bundle
	// into the webhook configurations; the operator only reads the files,
	// and picks up renewed ones without a restart.
	certModeExternal = "external"
)

// webhookOptions are the admission webhook server's settings.
type webhookOptions struct {
	enabled  bool
	host     string
	port     int
	certDir  string
	certMode string
	// secretName is the rotator's Secret, in the operator's namespace.
	secretName string
	// serviceName is the Service in front of the webhook server: the
	// rotator's serving certificate is issued for its DNS names.
	serviceName string
	// mutatingName and validatingName are the webhook configurations the
	// rotator writes the CA bundle into.
	mutatingName, validatingName string
	// operatorUsername overrides the SelfSubjectReview at start.
	operatorUsername string
}

// bindWebhookFlags registers the webhook flags on fs.
func bindWebhookFlags(fs *flag.FlagSet, o *webhookOptions) {
	fs.BoolVar(&o.enabled, "webhooks", true, "Serve the admission webhooks. Only for test set-ups without an API server calling them: in a cluster they refuse what the schema cannot and check requesters' rights.")
	fs.StringVar(&o.host, "webhook-host", "", "Address the webhook server listens on; empty means every interface.")
	fs.IntVar(&o.port, "webhook-port", webhook.DefaultPort, "Port of the webhook server.")
	fs.StringVar(&o.certDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"), "Directory with the webhook server's tls.crt and tls.key.")
	fs.StringVar(&o.certMode, "webhook-cert-mode", certModeRotator, "Who provides the webhook serving certificate: \"rotator\" (the operator, in the Secret --webhook-secret-name mounted at --webhook-cert-dir) or \"external\" (e.g. cert-manager; the operator only reads --webhook-cert-dir).")
	fs.StringVar(&o.secretName, "webhook-secret-name", "faultline-webhook-server-cert", "Secret in the operator's namespace where the rotator keeps the CA and serving certificate.")
	fs.StringVar(&o.serviceName, "webhook-service-name", "faultline-webhook-service", "Service of the webhook server in the operator's namespace; the rotator's certificate is issued for its DNS names.")
	fs.StringVar(&o.mutatingName, "mutating-webhook-configuration", "faultline-mutating-webhook-configuration", "MutatingWebhookConfiguration the rotator writes the CA bundle into.")
	fs.StringVar(&o.validatingName, "validating-webhook-configuration", "faultline-validating-webhook-configuration", "ValidatingWebhookConfiguration the rotator writes the CA bundle into.")
	fs.StringVar(&o.operatorUsername, "operator-username", "", "The operator's own user name as the API server sees it; found with a SelfSubjectReview when empty. Runs the operator creates act with their Experiment's recorded requester.")
}

// validate reports a setting that cannot work, before anything starts.
func (o *webhookOptions) validate(operatorNamespace string) error {
	if !o.enabled {
		return nil
	}
	switch o.certMode {
	case certModeRotator:
		if operatorNamespace == "" {
			return errors.New("--webhook-cert-mode=rotator keeps its Secret in the operator's namespace: set --operator-namespace (or POD_NAMESPACE), or use --webhook-cert-mode=external")
		}
	case certModeExternal:
	default:
		return fmt.Errorf("--webhook-cert-mode %q: write %q or %q", o.certMode, certModeRotator, certModeExternal)
	}
	if o.port <= 0 || o.port > 65535 {
		return fmt.Errorf("--webhook-port %d: write a TCP port between 1 and 65535", o.port)
	}
	return nil
}

// certsReady is closed once the serving certificate is in the cert dir and,
// with the rotator, its CA is in the webhook configurations.
type certsReady chan struct{}

// newWebhookServer is the manager's webhook server, started only once ready
// is closed (rotator mode) or the certificate files exist (external mode).
func newWebhookServer(o webhookOptions, ready certsReady, tlsOpts []func(*tls.Config)) webhook.Server {
	inner := webhook.NewServer(webhook.Options{
		Host:    o.host,
		Port:    o.port,
		CertDir: o.certDir,
		TLSOpts: tlsOpts,
	})
	s := &gatedWebhookServer{Server: inner}
	switch o.certMode {
	case certModeRotator:
		s.wait = func(ctx context.Context) error {
			select {
			case <-ready:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	default:
		s.wait = func(ctx context.Context) error {
			return waitForFiles(ctx, time.Second, filepath.Join(o.certDir, "tls.crt"), filepath.Join(o.certDir, "tls.key"))
		}
	}
	return s
}

// gatedWebhookServer starts controller-runtime's webhook server only once
// its serving certificate exists. That server reads the certificate as it
// starts and fails without one, which would stop the whole manager (the
// controllers, the kill switch, the reaper) and crash-loop the pod each time
// a new Secret has not yet reached the pod's volume. Until then its
// StartedChecker reports not ready, so no Service sends it traffic.
type gatedWebhookServer struct {
	webhook.Server
	wait func(ctx context.Context) error
}

// Start waits for the certificate, then serves until ctx ends.
func (s *gatedWebhookServer) Start(ctx context.Context) error {
	if err := s.wait(ctx); err != nil {
		if ctx.Err() != nil {
			// Shut down before the certificate came: nothing to serve.
			return nil
		}
		return fmt.Errorf("waiting for the webhook serving certificate: %w", err)
	}
	return s.Server.Start(ctx)
}

// waitForFiles returns once every path exists, looking every interval, or
// ctx's error.
func waitForFiles(ctx context.Context, interval time.Duration, paths ...string) error {
	log := ctrl.Log.WithName("webhook")
	logged := false
	return wait.PollUntilContextCancel(ctx, interval, true, func(context.Context) (bool, error) {
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				if !logged {
					log.Info("waiting for the webhook serving certificate", "missing", p)
					logged = true
				}
				return false, nil
			}
		}
		return true, nil
	})
}

// addCertRotator adds the certificate rotator to mgr: it fills the Secret
// with a CA and a serving certificate for the webhook Service, renews them
// before they expire and keeps the CA bundle of both webhook configurations
// current, then closes ready.
func addCertRotator(mgr ctrl.Manager, o webhookOptions, namespace string, ready certsReady) error {
	svc := o.serviceName + "." + namespace + ".svc"
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: namespace, Name: o.secretName},
		CertDir:        o.certDir,
		CAName:         "faultline-webhook-ca",
		CAOrganization: "faultline",
		DNSName:        svc,
		ExtraDNSNames:  []string{o.serviceName + "." + namespace, svc + ".cluster.local"},
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: o.mutatingName, Type: rotator.Mutating},
			{Name: o.validatingName, Type: rotator.Validating},
		},
		FieldOwner: "faultline",
		// Every replica serves admission requests, not only the leader, so
		// every replica must see its certificate arrive; the Secret update
		// is optimistic-locked, so replicas racing to fill it converge on
		// one CA.
		RequireLeaderElection: false,
		// The webhook server reloads renewed files itself.
		RestartOnSecretRefresh: false,
		EnableReadinessCheck:   true,
	})
	if err != nil {
		return fmt.Errorf("adding the webhook certificate rotator: %w", err)
	}
	return nil
}

// setupWebhooks registers the admission webhooks on mgr and, in rotator
// mode, the rotator that provides their certificate.
func setupWebhooks(ctx context.Context, mgr ctrl.Manager, o webhookOptions, namespace string, ready certsReady, observeApproval func(string)) error {
	if o.certMode == certModeRotator {
		if err := addCertRotator(mgr, o, namespace, ready); err != nil {
			return err
		}
	}
	username := o.operatorUsername
	if username == "" {
		var err error
		if username, err = whoAmI(ctx, mgr.GetClient()); err != nil {
			return err
		}
	}
	ctrl.Log.WithName("setup").Info("operator identity", "username", username)
	err := webhooks.Setup(mgr, webhooks.Options{
		OperatorUsername: username,
		// SubjectAccessReviews are created, never cached: the manager's
		// client sends them straight to the API server.
		Access:          &access.Checker{Client: mgr.GetClient(), Timeout: access.DefaultTimeout},
		Recorder:        mgr.GetEventRecorder("faultline-webhooks"),
		ObserveApproval: observeApproval,
	})
	if err != nil {
		return fmt.Errorf("setting up the admission webhooks: %w", err)
	}
	// Ready only once the webhook server answers: with failurePolicy Fail,
	// a replica that receives traffic before it serves refuses every
	// Experiment and run.
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding the webhook ready check: %w", err)
	}
	return nil
}

// whoAmI is the operator's user name as the API server authenticates it,
// from a SelfSubjectReview. The webhooks must tell the operator's own
// writes (the runs it creates on schedule) from a user's.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server for the operator's user name (SelfSubjectReview): %w; set --operator-username if SelfSubjectReviews are not allowed", err)
	}
	name := review.Status.UserInfo.Username
	if name == "" {
		return "", errors.New("the API server's SelfSubjectReview named no user; set --operator-username")
	}
	return name, nil
}
