//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/e2e/harness"
)

// The operators of the soak campaign: one replica without leader election,
// as the rest of the suite runs it, or two with leader election, as a
// Deployment with replicas: 2 runs them. Every replica serves the admission
// webhooks; a TCP proxy on the suite's webhook address passes each
// connection to a live replica, as a Service would.

// Leader election is shortened so that a failover fits a campaign: a leader
// killed with SIGKILL is replaced within soakLeaseDuration plus a retry.
const (
	soakLeaseDuration = 4 * time.Second
	soakRenewDeadline = 3 * time.Second
	soakRetryPeriod   = time.Second
)

type soakReplica struct {
	name string
	op   *harness.Operator
	// down: the driver stopped it on purpose; the supervisor leaves it be.
	down bool
}

type soakOperators struct {
	t      testing.TB
	base   *harness.Operator
	proxy  *harness.WebhookProxy
	leader bool // replicas run with leader election

	// changing is held while replicas are replaced or restarted, so the
	// supervisor never restarts one the driver has just retired.
	changing sync.Mutex
	mu       sync.Mutex
	replicas []*soakReplica
	seq      int
	// unplannedExits counts replicas that exited on their own (a leader
	// that lost its lease while the API server was away), each restarted.
	unplannedExits int
	stop           chan struct{}
	done           chan struct{}
}

// newSoakOperators stops the suite's operator, puts a proxy on its webhook
// address and starts one replica without leader election. Cleanup stops
// the replicas and the proxy and starts the suite's operator again.
func newSoakOperators(t testing.TB) *soakOperators {
	t.Helper()
	if err := tb.Operator.Stop(); err != nil {
		t.Fatalf("stopping the suite's operator: %v", err)
	}
	tb.EnsureLeaderElectionRights(t)
	proxy, err := harness.NewWebhookProxy(tb.Webhooks.Addr)
	if err != nil {
		t.Fatalf("webhook proxy: %v", err)
	}
	s := &soakOperators{t: t, base: tb.Operator, proxy: proxy, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		for _, r := range s.replicas {
			_ = r.op.Stop()
		}
		s.replicas = nil
		s.mu.Unlock()
		proxy.Close()
		tb.StartOperator(t)
	})
	s.setMode(false, 1)
	go s.supervise()
	return s
}

// setMode replaces every replica (SIGKILL, as a rollout gone wrong would)
// by n new ones, with or without leader election. It returns how many
// replicas were killed.
func (s *soakOperators) setMode(leader bool, n int) int {
	s.t.Helper()
	s.changing.Lock()
	defer s.changing.Unlock()
	s.mu.Lock()
	old := s.replicas
	s.replicas = nil
	s.leader = leader
	s.mu.Unlock()
	killed := 0
	for _, r := range old {
		if r.op.Running() {
			killed++
		}
		if err := r.op.Kill(); err != nil {
			s.t.Fatalf("killing replica %s: %v", r.name, err)
		}
	}
	for range n {
		s.add()
	}
	return killed
}

// add starts one more replica and waits until it is ready.
func (s *soakOperators) add() *soakReplica {
	s.t.Helper()
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("replica-%d", s.seq)
	leader := s.leader
	s.mu.Unlock()
	ports := make([]int, 3)
	for i := range ports {
		p, err := harness.FreePort()
		if err != nil {
			s.t.Fatal(err)
		}
		ports[i] = p
	}
	// The suite's flags, with ports of the replica's own: the webhook's,
	// and a fresh one for every other listener (--*-bind-address).
	args := []string{}
	for i, a := range s.base.Args {
		switch {
		case strings.HasPrefix(a, "--webhook-port="):
			a = "--webhook-port=" + strconv.Itoa(ports[2])
		case strings.Contains(a, "-bind-address="):
			a = a[:strings.Index(a, "=")+1] + s.freeAddr()
		case i > 0 && strings.HasSuffix(s.base.Args[i-1], "-bind-address") && !strings.HasPrefix(a, "-"):
			a = s.freeAddr()
		}
		args = append(args, a)
	}
	args = append(args, "--reap-period=5s")
	if leader {
		args = append(args, "--leader-elect", "--leader-election-namespace="+harness.OperatorNamespace,
			"--leader-election-lease-duration="+soakLeaseDuration.String(),
			"--leader-election-renew-deadline="+soakRenewDeadline.String(),
			"--leader-election-retry-period="+soakRetryPeriod.String())
	}
	dir := filepath.Dir(s.base.LogPath)
	r := &soakReplica{name: name, op: &harness.Operator{
		Bin:         s.base.Bin,
		Kubeconfig:  s.base.Kubeconfig,
		MetricsAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		HealthAddr:  fmt.Sprintf("127.0.0.1:%d", ports[1]),
		WebhookAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		Args:        args,
		LogPath:     filepath.Join(dir, "soak-operators.log"),
		PIDPath:     filepath.Join(dir, "soak-"+name+".pid"),
	}}
	s.start(r)
	s.mu.Lock()
	s.replicas = append(s.replicas, r)
	s.mu.Unlock()
	s.proxy.SetBackends(s.webhookAddrs())
	return r
}

func (s *soakOperators) freeAddr() string {
	p, err := harness.FreePort()
	if err != nil {
		s.t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// start starts r, retrying while the API server it needs is away.
func (s *soakOperators) start(r *soakReplica) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		if err = r.op.Start(ctx); err == nil {
			r.down = false
			return
		}
		time.Sleep(time.Second)
	}
	s.t.Fatalf("starting operator %s: %v", r.name, err)
}

func (s *soakOperators) webhookAddrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]string, 0, len(s.replicas))
	for _, r := range s.replicas {
		addrs = append(addrs, r.op.WebhookAddr)
	}
	return addrs
}

// supervise restarts a replica that exited without the driver asking, as
// a Deployment's kubelet would.
func (s *soakOperators) supervise() {
	defer close(s.done)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		var exited []*soakReplica
		for _, r := range s.replicas {
			if !r.down && !r.op.Running() {
				exited = append(exited, r)
				r.down = true // until restarted below
			}
		}
		s.mu.Unlock()
		if len(exited) == 0 {
			continue
		}
		s.changing.Lock()
		for _, r := range exited {
			s.mu.Lock()
			retired := !slices.Contains(s.replicas, r)
			if !retired {
				s.unplannedExits++
			}
			s.mu.Unlock()
			if retired {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			for ctx.Err() == nil {
				if err := r.op.Start(ctx); err == nil {
					break
				}
				time.Sleep(time.Second)
			}
			cancel()
			s.mu.Lock()
			r.down = false
			s.mu.Unlock()
		}
		s.changing.Unlock()
	}
}

// kill SIGKILLs r and keeps it down until restart.
func (s *soakOperators) kill(r *soakReplica) {
	s.t.Helper()
	s.mu.Lock()
	r.down = true
	s.mu.Unlock()
	if err := r.op.Kill(); err != nil {
		s.t.Fatalf("killing %s: %v", r.name, err)
	}
}

func (s *soakOperators) restart(r *soakReplica) {
	s.t.Helper()
	s.start(r)
}

// current returns the replicas.
func (s *soakOperators) current() []*soakReplica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*soakReplica(nil), s.replicas...)
}

// leaderOf returns the replica whose metrics say it leads, or nil.
func (s *soakOperators) leaderOf(ctx context.Context) *soakReplica {
	for _, r := range s.current() {
		if r.op.Running() && harness.IsLeader(ctx, r.op.MetricsAddr) {
			return r
		}
	}
	return nil
}

// waitLeader waits until a replica other than not leads and returns it
// with how long it took.
func (s *soakOperators) waitLeader(not *soakReplica, timeout time.Duration) (*soakReplica, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if r := s.leaderOf(ctx); r != nil && r != not {
			return r, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return nil, time.Since(start), fmt.Errorf("no replica took the lease within %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
