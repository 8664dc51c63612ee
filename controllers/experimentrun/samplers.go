package experimentrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// SamplerFactory builds the probe sampler for a run.
type SamplerFactory interface {
	For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*probes.Sampler, error)
}

// secretReadTimeout bounds reading a credentials Secret: a reconcile never
// waits longer on the API server for it.
const secretReadTimeout = 5 * time.Second

// Samplers builds samplers against real Prometheus servers, keeping one HTTP
// client per server and credentials so connections are reused across samples.
type Samplers struct {
	// Client reads the probed workloads; the manager's cache will do.
	Client client.Reader
	// Secrets reads credentials Secrets straight from the API server
	// (mgr.GetAPIReader()). Never a cache: the operator may only get
	// Secrets, so a Secret informer would never sync and every read through
	// it would wait forever, holding the worker that made it.
	Secrets client.Reader

	mu sync.Mutex
	// clients holds one provider per address, credentials Secret and
	// timeout. A rotated Secret replaces its entry rather than adding one.
	clients map[string]cachedProvider
}

// cachedProvider is a provider and the Secret version it was built with.
type cachedProvider struct {
	secretVersion string
	provider      probes.MetricsProvider
}

// For returns the sampler of spec, whose Secrets live in namespace. Errors
// that only a change of configuration fixes are *ConfigError.
func (f *Samplers) For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*probes.Sampler, error) {
	s := &probes.Sampler{Reader: f.Client}
	if spec.Provider == nil || spec.Provider.Prometheus == nil {
		return s, nil
	}
	p := spec.Provider.Prometheus
	timeout := probes.DefaultPrometheusTimeout
	if p.Timeout != nil && p.Timeout.Duration > 0 {
		// Zero or negative (stored before the schema refused it) means the
		// default, never "no deadline".
		timeout = p.Timeout.Duration
	}
	key := fmt.Sprintf("%s|%s", p.Address, timeout)
	var creds *probes.Credentials
	version := ""
	if p.Auth != nil {
		secret, err := f.readSecret(ctx, namespace, p.Auth.SecretName)
		if err != nil {
			return nil, err
		}
		c, err := probes.CredentialsFromSecret(secret, *p.Auth)
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("%w; fix the Secret or provider.prometheus.auth", err)}
		}
		creds = c
		key += "|" + namespace + "/" + p.Auth.SecretName
		version = secret.ResourceVersion
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok && c.secretVersion == version {
		s.Metrics = c.provider
		return s, nil
	}
	api, err := probes.NewPrometheusClient(p.Address, creds)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("building the Prometheus client for %s: %w; fix provider.prometheus", p.Address, err)}
	}
	m := probes.NewPrometheus(api, timeout)
	if f.clients == nil {
		f.clients = map[string]cachedProvider{}
	}
	f.clients[key] = cachedProvider{secretVersion: version, provider: m}
	s.Metrics = m
	return s, nil
}

// readSecret reads a credentials Secret from the API server, within
// secretReadTimeout. A Secret that is missing or that the operator may not
// read is a *ConfigError; anything else is transient.
func (f *Samplers) readSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if f.Secrets == nil {
		return nil, &ConfigError{Err: fmt.Errorf("this operator reads no Secrets (no Secret reader configured); remove provider.prometheus.auth")}
	}
	ctx, cancel := context.WithTimeout(ctx, secretReadTimeout)
	defer cancel()
	secret := &corev1.Secret{}
	err := f.Secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
	switch {
	case err == nil:
		return secret, nil
	case apierrors.IsNotFound(err):
		return nil, &ConfigError{Err: fmt.Errorf("the Prometheus credentials Secret %s/%s does not exist; create it or fix provider.prometheus.auth.secretName", namespace, name)}
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return nil, &ConfigError{Err: fmt.Errorf("the operator may not read the Prometheus credentials Secret %s/%s; grant its service account get on it", namespace, name)}
	}
	return nil, fmt.Errorf("reading the Prometheus credentials Secret %s/%s: %w", namespace, name, err)
}
