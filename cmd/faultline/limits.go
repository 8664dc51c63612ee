package main

import (
	"fmt"
	"math"
	"time"

	"k8s.io/client-go/rest"

	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
)

// maxWorkers bounds every worker flag: more goroutines than this only queue
// requests at the API server.
const maxWorkers = 1024

// validateLimits refuses worker counts and client limits that cannot work,
// saying what to write instead.
func (o options) validateLimits() error {
	for _, w := range []struct {
		flag  string
		value int
		def   int
	}{
		{"run-workers", o.runWorkers, experimentrun.DefaultMaxConcurrentReconciles},
		{"experiment-workers", o.experimentWorkers, experiment.DefaultMaxConcurrentReconciles},
		{"target-workers", o.targetWorkers, experimentrun.DefaultTargetWorkers},
	} {
		if w.value < 1 || w.value > maxWorkers {
			return fmt.Errorf("--%s=%d: must be between 1 and %d; the default is %d", w.flag, w.value, maxWorkers, w.def)
		}
	}
	if err := o.validateLeaderElection(); err != nil {
		return err
	}
	if o.apiQPS < 0 || math.IsNaN(o.apiQPS) || math.IsInf(o.apiQPS, 0) {
		return fmt.Errorf("--kube-api-qps=%v: must be 0 (no client-side limit) or a positive number of requests per second, such as 50", o.apiQPS)
	}
	if o.apiBurst < 0 {
		return fmt.Errorf("--kube-api-burst=%d: must be 0 (twice --kube-api-qps) or a positive number of requests", o.apiBurst)
	}
	if o.apiBurst > 0 && o.apiQPS == 0 {
		return fmt.Errorf("--kube-api-burst=%d is set without --kube-api-qps: a burst only applies to a rate limit; set --kube-api-qps too, or drop --kube-api-burst", o.apiBurst)
	}
	return nil
}

// applyClientLimits sets the API client's rate limit on cfg. Without
// --kube-api-qps the client is not limited (QPS -1): the API server's
// Priority and Fairness shares its capacity among clients, and a client-side
// limit would only spread a pod kill over seconds.
func (o options) applyClientLimits(cfg *rest.Config) {
	if o.apiQPS == 0 {
		cfg.QPS, cfg.Burst = -1, 0
		return
	}
	cfg.QPS = float32(o.apiQPS)
	cfg.Burst = o.apiBurst
	if cfg.Burst == 0 {
		cfg.Burst = int(math.Ceil(2 * o.apiQPS))
	}
}

// The leader-election timings, as client-go's leader election recommends
// them: a crashed leader's runs resume within the lease duration plus a
// retry period.
const (
	defaultLeaseDuration = 15 * time.Second
	defaultRenewDeadline = 10 * time.Second
	defaultRetryPeriod   = 2 * time.Second
)

// validateLeaderElection refuses timings with which replicas would take the
// lease from a leader that still renews it.
func (o options) validateLeaderElection() error {
	switch {
	case o.retryPeriod <= 0:
		return fmt.Errorf("--leader-election-retry-period=%s: must be positive; the default is %s", o.retryPeriod, defaultRetryPeriod)
	case o.renewDeadline <= o.retryPeriod:
		return fmt.Errorf("--leader-election-renew-deadline=%s must be longer than --leader-election-retry-period=%s, or the leader gives up before it retries; the defaults are %s and %s", o.renewDeadline, o.retryPeriod, defaultRenewDeadline, defaultRetryPeriod)
	case o.leaseDuration <= o.renewDeadline:
		return fmt.Errorf("--leader-election-lease-duration=%s must be longer than --leader-election-renew-deadline=%s, or another replica takes the lease while the leader still renews it; the defaults are %s and %s", o.leaseDuration, o.renewDeadline, defaultLeaseDuration, defaultRenewDeadline)
	}
	return nil
}
