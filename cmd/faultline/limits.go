package main

import (
	"fmt"
	"math"

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
