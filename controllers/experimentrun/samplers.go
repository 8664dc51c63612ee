package experimentrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// SamplerFactory builds the probe sampler for a run.
type SamplerFactory interface {
	For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*probes.Sampler, error)
}

// Samplers builds samplers against real Prometheus servers, keeping one HTTP
// client per server and credentials so connections are reused across samples.
type Samplers struct {
	// Client reads workloads and Secrets.
	Client client.Reader

	mu      sync.Mutex
	clients map[string]probes.MetricsProvider
}

// For returns the sampler of spec, whose Secrets live in namespace.
func (f *Samplers) For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*probes.Sampler, error) {
	s := &probes.Sampler{Reader: f.Client}
	if spec.Provider == nil || spec.Provider.Prometheus == nil {
		return s, nil
	}
	p := spec.Provider.Prometheus
	var creds *probes.Credentials
	key := p.Address
	if p.Auth != nil {
		secret := &corev1.Secret{}
		if err := f.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: p.Auth.SecretName}, secret); err != nil {
			return nil, fmt.Errorf("reading Prometheus credentials Secret %s/%s: %w", namespace, p.Auth.SecretName, err)
		}
		c, err := probes.CredentialsFromSecret(secret, *p.Auth)
		if err != nil {
			return nil, err
		}
		creds = c
		key += "|" + namespace + "/" + p.Auth.SecretName + "@" + secret.ResourceVersion
	}
	timeout := p.Timeout
	if timeout != nil {
		key += "|" + timeout.Duration.String()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.clients[key]; ok {
		s.Metrics = m
		return s, nil
	}
	api, err := probes.NewPrometheusClient(p.Address, creds)
	if err != nil {
		return nil, fmt.Errorf("building the Prometheus client for %s: %w", p.Address, err)
	}
	d := defaultQueryTimeout
	if timeout != nil {
		d = timeout.Duration
	}
	m := probes.NewPrometheus(api, d)
	if f.clients == nil {
		f.clients = map[string]probes.MetricsProvider{}
	}
	f.clients[key] = m
	s.Metrics = m
	return s, nil
}

// defaultQueryTimeout matches the CRD's default for provider.prometheus.timeout,
// for specs that reached the operator without defaulting.
const defaultQueryTimeout = 5 * time.Second
