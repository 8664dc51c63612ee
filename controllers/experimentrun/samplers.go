package experimentrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// SamplerFactory builds the probe sampler for a run.
type SamplerFactory interface {
	For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*providers.Sampler, error)
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
	// Watches, when set, answers each run's workload probes from watches
	// on the probed objects alone (never a cache of every Deployment), so
	// their readiness changes are dated by the API server's events. A
	// run's watches live until Release. Nil reads workloads through Client
	// at each sample, to the probe interval.
	Watches client.WithWatch
	// Clock dates the watch events: the Reconciler's clock. Nil means the
	// real clock.
	Clock clock.PassiveClock
	// WatchIdleTimeout closes the watches of a run not sampled for this
	// long, for a run that went away without being released (its
	// finalizer removed by hand); zero means DefaultWatchIdleTimeout.
	WatchIdleTimeout time.Duration

	mu sync.Mutex
	// runs holds each run's workload watches, by run UID.
	runs map[types.UID]*runWatches
	// clients holds one provider per address, credentials Secret and
	// timeout. A rotated Secret replaces its entry rather than adding one.
	clients map[string]cachedProvider
}

// cachedProvider is a provider and the Secret version it was built with.
type cachedProvider struct {
	secretVersion string
	provider      probes.MetricsProvider
}

// DefaultWatchIdleTimeout is how long a run's watches outlive its last
// sample when the run is never released.
const DefaultWatchIdleTimeout = 15 * time.Minute

// runWatches are the workload watches of one run.
type runWatches struct {
	watches  *providers.WorkloadWatches
	lastUsed time.Time
}

// RunSamplerFactory is a SamplerFactory whose samplers keep state for a run
// (watches on its probed workloads) until the run is released.
type RunSamplerFactory interface {
	SamplerFactory
	// ForRun returns the sampler of run's Experiment snapshot.
	ForRun(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (*providers.Sampler, error)
	// Release stops what ForRun started for run; the run samples no more.
	Release(run *chaosv1alpha1.ExperimentRun)
}

// ForRun is For for run, with its workload probes answered by the run's
// watches when Watches is set.
func (f *Samplers) ForRun(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (*providers.Sampler, error) {
	spec := run.Status.Experiment
	s, err := f.For(ctx, run.Namespace, spec)
	if err != nil || f.Watches == nil || !hasWorkloadProbe(spec) {
		return s, err
	}
	now := f.clock().Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeIdle(now)
	rw, ok := f.runs[run.UID]
	if !ok {
		if f.runs == nil {
			f.runs = map[types.UID]*runWatches{}
		}
		rw = &runWatches{watches: providers.NewWorkloadWatches(f.Watches, f.clock())}
		f.runs[run.UID] = rw
	}
	rw.lastUsed = now
	s.Workloads = rw.watches
	return s, nil
}

// Release closes run's watches, and waits until they have stopped.
func (f *Samplers) Release(run *chaosv1alpha1.ExperimentRun) {
	f.mu.Lock()
	rw, ok := f.runs[run.UID]
	delete(f.runs, run.UID)
	f.mu.Unlock()
	if ok {
		rw.watches.Close()
	}
}

// WatchedRuns counts the runs whose workload watches are open.
func (f *Samplers) WatchedRuns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

// closeIdle closes the watches of runs not sampled for WatchIdleTimeout.
// The caller holds f.mu.
func (f *Samplers) closeIdle(now time.Time) {
	idle := f.WatchIdleTimeout
	if idle <= 0 {
		idle = DefaultWatchIdleTimeout
	}
	for uid, rw := range f.runs {
		if now.Sub(rw.lastUsed) > idle {
			delete(f.runs, uid)
			// Close waits for the watch goroutines, which never take f.mu.
			rw.watches.Close()
		}
	}
}

func (f *Samplers) clock() clock.PassiveClock {
	if f.Clock != nil {
		return f.Clock
	}
	return clock.RealClock{}
}

func hasWorkloadProbe(spec *chaosv1alpha1.ExperimentSpec) bool {
	if spec == nil {
		return false
	}
	for _, p := range spec.SteadyState.Probes {
		if p.Workload != nil {
			return true
		}
	}
	return false
}

// samplerFor is the sampler of run, kept per run when the factory can.
func (r *Reconciler) samplerFor(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (*providers.Sampler, error) {
	if rs, ok := r.Samplers.(RunSamplerFactory); ok {
		return rs.ForRun(ctx, run)
	}
	return r.Samplers.For(ctx, run.Namespace, run.Status.Experiment)
}

// releaseSamplers stops what the run's samplers keep (their watches), once
// the run samples no more: it finished, or is being deleted.
func (r *Reconciler) releaseSamplers(run *chaosv1alpha1.ExperimentRun) {
	if rs, ok := r.Samplers.(RunSamplerFactory); ok {
		rs.Release(run)
	}
}

// For returns the sampler of spec, whose Secrets live in namespace. Errors
// that only a change of configuration fixes are *ConfigError.
func (f *Samplers) For(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) (*providers.Sampler, error) {
	s := &providers.Sampler{Reader: f.Client}
	if spec.Provider == nil || spec.Provider.Prometheus == nil {
		return s, nil
	}
	p := spec.Provider.Prometheus
	timeout := providers.DefaultPrometheusTimeout
	if p.Timeout != nil && p.Timeout.Duration > 0 {
		// Zero or negative (stored before the schema refused it) means the
		// default, never "no deadline".
		timeout = p.Timeout.Duration
	}
	key := fmt.Sprintf("%s|%s", p.Address, timeout)
	var creds *providers.Credentials
	version := ""
	if p.Auth != nil {
		secret, err := f.readSecret(ctx, namespace, p.Auth.SecretName)
		if err != nil {
			return nil, err
		}
		c, err := providers.CredentialsFromSecret(secret, *p.Auth)
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
	api, err := providers.NewPrometheusClient(p.Address, creds)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("building the Prometheus client for %s: %w; fix provider.prometheus", p.Address, err)}
	}
	m := providers.NewPrometheus(api, timeout)
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

// refine re-evaluates the Prometheus probes behind crossings over their
// windows. It never fails: a crossing it cannot refine (no provider, a
// configuration error, a query that fails) comes back with its error, and
// the run keeps the sampled instant, so a refinement never holds up a
// verdict.
func (r *Reconciler) refine(ctx context.Context, s *scope, crossings []probes.Crossing) []probes.Refined {
	sampler, err := r.samplerFor(ctx, s.run)
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Crossings not refined: no probe sampler", "run", klog.KObj(s.run), "error", err.Error())
		return nil
	}
	refined := probes.Refine(ctx, sampler.Metrics, s.spec(), crossings, r.RefineStep)
	for _, rf := range refined {
		if rf.Err != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("Crossing not refined; the sample places it", "run", klog.KObj(s.run), "instant", rf.Instant, "error", rf.Err.Error())
		}
	}
	return refined
}
