package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
)

// ServiceRef names a Service the simulator sends traffic to.
type ServiceRef struct {
	Namespace string
	Name      string
}

// String returns namespace/name.
func (s ServiceRef) String() string { return s.Namespace + "/" + s.Name }

// ParseServices parses a comma-separated list of namespace/name.
func ParseServices(list string) ([]ServiceRef, error) {
	var out []ServiceRef
	seen := map[ServiceRef]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ns, name, ok := strings.Cut(item, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("service %q: want namespace/name", item)
		}
		ref := ServiceRef{Namespace: ns, Name: name}
		if seen[ref] {
			return nil, fmt.Errorf("service %q listed twice", item)
		}
		seen[ref] = true
		out = append(out, ref)
	}
	if len(out) == 0 {
		return nil, errors.New("no services given")
	}
	return out, nil
}

// ServiceValues holds one number per service, such as its request rate. As
// a flag it is written namespace/name=number, comma-separated or repeated:
// --service-rps shop/reviews=300,shop/ratings=300.
type ServiceValues map[ServiceRef]float64

// String lists the values as the flag is written, sorted by service.
func (v ServiceValues) String() string {
	refs := make([]ServiceRef, 0, len(v))
	for ref := range v {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(a, b ServiceRef) int { return strings.Compare(a.String(), b.String()) })
	parts := make([]string, len(refs))
	for i, ref := range refs {
		parts[i] = ref.String() + "=" + strconv.FormatFloat(v[ref], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Set adds the comma-separated namespace/name=number entries of list. A
// service given twice is an error, so a typo cannot silently override an
// earlier setting.
func (v ServiceValues) Set(list string) error {
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		svc, num, ok := strings.Cut(item, "=")
		refs, err := ParseServices(svc)
		if !ok || err != nil || len(refs) != 1 {
			return fmt.Errorf("%q: want namespace/name=number, such as shop/reviews=300", item)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q: %q is not a finite number; write namespace/name=number, such as shop/reviews=300", item, num)
		}
		if _, dup := v[refs[0]]; dup {
			return fmt.Errorf("%q: service %s given twice", item, refs[0])
		}
		v[refs[0]] = f
	}
	return nil
}

// Config sets what the simulator sends and how the services respond.
type Config struct {
	// Services receive the simulated traffic.
	Services []ServiceRef
	// RPS is the request rate per service.
	RPS float64
	// Capacity is the request rate one ready endpoint serves; see Model.
	Capacity float64
	// ServiceRPS replaces RPS for the services it names, so a dedicated
	// service can carry more traffic without changing the others.
	ServiceRPS ServiceValues
	// ServiceCapacity replaces Capacity for the services it names.
	ServiceCapacity ServiceValues
	// ErrorRate is the share of requests, 0 to 1, each service it names
	// answers 503 within capacity (Model.ErrorRate); the others have none.
	ErrorRate ServiceValues
	// HeaderShare is the share of requests that carry CanaryHeader.
	HeaderShare float64
	// BaseLatency is the latency of a request served within capacity.
	BaseLatency time.Duration
	// Tick is how often a batch of requests is simulated; 50ms if zero.
	Tick time.Duration
	// Seed seeds the random source, so a run can be replayed.
	Seed uint64
	// Reporter fills the reporter label; "destination" if empty.
	Reporter string
	// SourceWorkload fills source_workload; "trafficsim" if empty.
	SourceWorkload string
	// SourceLabels are the labels of the calling workload for sourceLabels
	// matches; app=<SourceWorkload> if nil.
	SourceLabels map[string]string
	// Log receives state changes; slog.Default() if nil.
	Log *slog.Logger
}

// Simulator issues simulated requests to the configured services and
// records them as Istio's metrics.
type Simulator struct {
	cfg Config
	// models are each service's Model, with its own settings applied.
	models  map[ServiceRef]Model
	metrics *Metrics
	watch   *watcher
	log     *slog.Logger

	mu    sync.RWMutex
	state map[ServiceRef]*serviceState
}

// serviceState is what the informers last said about one service.
type serviceState struct {
	ready  int
	routes []Route
	// summary describes routes for the log; empty before the first look.
	summary string
	// faulted: some route carries a fault.
	faulted bool
}

// New builds a simulator that watches the cluster through kube and istio.
func New(cfg Config, kube kubernetes.Interface, istio istioclient.Interface) (*Simulator, error) {
	if len(cfg.Services) == 0 {
		return nil, errors.New("no services")
	}
	if cfg.RPS < 0 || cfg.HeaderShare < 0 || cfg.HeaderShare > 1 || cfg.BaseLatency < 0 {
		return nil, errors.New("rps and base latency must not be negative, header share must be within [0,1]")
	}
	if err := checkServiceValues(cfg); err != nil {
		return nil, err
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	if cfg.Reporter == "" {
		cfg.Reporter = "destination"
	}
	if cfg.SourceWorkload == "" {
		cfg.SourceWorkload = "trafficsim"
	}
	if cfg.SourceLabels == nil {
		cfg.SourceLabels = map[string]string{"app": cfg.SourceWorkload}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, err := NewMetrics(cfg.Reporter, cfg.SourceWorkload)
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:     cfg,
		models:  make(map[ServiceRef]Model, len(cfg.Services)),
		metrics: m,
		log:     cfg.Log,
		state:   make(map[ServiceRef]*serviceState, len(cfg.Services)),
	}
	for _, svc := range cfg.Services {
		s.models[svc] = ModelFor(cfg, svc)
		s.state[svc] = &serviceState{}
		m.Init(svc)
		m.SetReady(svc, 0)
	}
	s.watch = newWatcher(s, kube, istio)
	return s, nil
}

// ModelFor is the Model of svc: the simulator-wide settings of cfg, with
// those cfg sets for svc alone in their place.
func ModelFor(cfg Config, svc ServiceRef) Model {
	m := Model{
		RPS:          cfg.RPS,
		Capacity:     cfg.Capacity,
		BaseLatency:  cfg.BaseLatency,
		Jitter:       0.1,
		SourceLabels: cfg.SourceLabels,
		ErrorRate:    cfg.ErrorRate[svc],
	}
	if rps, ok := cfg.ServiceRPS[svc]; ok {
		m.RPS = rps
	}
	if c, ok := cfg.ServiceCapacity[svc]; ok {
		m.Capacity = c
	}
	return m
}

// checkServiceValues refuses per-service settings for a service that gets
// no traffic (a typo would otherwise be ignored) and values out of range.
func checkServiceValues(cfg Config) error {
	listed := make(map[ServiceRef]bool, len(cfg.Services))
	for _, svc := range cfg.Services {
		listed[svc] = true
	}
	var errs []error
	for _, f := range []struct {
		flag   string
		values ServiceValues
		ok     func(float64) bool
		want   string
	}{
		{"service-rps", cfg.ServiceRPS, func(v float64) bool { return v >= 0 }, "a rate of 0 or more requests per second"},
		{"service-capacity", cfg.ServiceCapacity, func(float64) bool { return true }, ""},
		{"error-rate", cfg.ErrorRate, func(v float64) bool { return v >= 0 && v <= 1 }, "a share from 0 to 1, such as 0.005"},
	} {
		for svc, v := range f.values {
			if !listed[svc] {
				errs = append(errs, fmt.Errorf("--%s names %s, which is not in --services; add it there or drop the setting", f.flag, svc))
			}
			if !f.ok(v) {
				errs = append(errs, fmt.Errorf("--%s %s=%g: want %s", f.flag, svc, v, f.want))
			}
		}
	}
	return errors.Join(errs...)
}

// Handler serves /metrics and /healthz.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Metrics returns the simulator's metrics.
func (s *Simulator) Metrics() *Metrics { return s.metrics }

// Run watches the cluster and simulates traffic until ctx is done. Traffic
// starts only once the informers have synced, so the first requests already
// see the real endpoints and faults instead of a spurious outage.
func (s *Simulator) Run(ctx context.Context) error {
	if err := s.watch.start(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped before the caches synced: a shutdown, not a failure.
			return nil
		}
		return err
	}
	rng := rand.New(rand.NewPCG(s.cfg.Seed, s.cfg.Seed^0x9e3779b97f4a7c15))
	owed := make(map[ServiceRef]float64, len(s.cfg.Services))
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			// Pace by the time that really passed, not by the tick, so
			// a slow tick does not lower the rate; cap it so a process
			// stopped for a while does not burst when it resumes.
			dt := min(now.Sub(last), time.Second)
			last = now
			s.step(rng, owed, dt)
		}
	}
}

// step issues the requests due over dt, carrying fractions of a request
// over to the next step so low rates come out right on average.
func (s *Simulator) step(rng *rand.Rand, owed map[ServiceRef]float64, dt time.Duration) {
	for _, svc := range s.cfg.Services {
		model := s.models[svc]
		owed[svc] += model.RPS * dt.Seconds()
		n := int(owed[svc])
		owed[svc] -= float64(n)
		if n == 0 {
			continue
		}
		s.mu.RLock()
		st := *s.state[svc]
		s.mu.RUnlock()
		for range n {
			req := NewRequest(rng, s.cfg.HeaderShare)
			s.metrics.Record(svc, req, model.Serve(rng, st.ready, st.routes, req))
		}
	}
}

func (s *Simulator) setReady(svc ServiceRef, n int) {
	s.mu.Lock()
	old := s.state[svc].ready
	s.state[svc].ready = n
	s.mu.Unlock()
	s.metrics.SetReady(svc, n)
	if old != n {
		s.log.Info("ready endpoints changed", "service", svc.String(), "from", old, "to", n)
	}
}

func (s *Simulator) setRoutes(svc ServiceRef, routes []Route) {
	var faults []string
	for i, r := range routes {
		if f := r.Fault; f != nil {
			faults = append(faults, fmt.Sprintf("http[%d] %q: delay %s@%g%% abort %d@%g%%",
				i, r.Name, f.Delay, f.DelayPercent, f.AbortStatus, f.AbortPercent))
		}
	}
	summary := fmt.Sprintf("%d routes, faults %v", len(routes), faults)
	s.mu.Lock()
	st := s.state[svc]
	st.routes = routes
	changed := st.summary != summary
	st.summary = summary
	faulted := len(faults) > 0
	transition := faulted != st.faulted
	st.faulted = faulted
	s.mu.Unlock()
	if transition {
		// The next tick serves requests with the new routes.
		s.metrics.SetFaulted(svc, faulted, time.Now())
	}
	// Resyncs and unrelated edits recompute the routes too; log only what
	// changes the traffic, so an experiment's log reads as a timeline.
	if changed {
		s.log.Info("virtualservice routes changed", "service", svc.String(), "routes", len(routes), "faults", faults)
	}
}
