package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestClientLimits(t *testing.T) {
	base := options{runWorkers: 8, experimentWorkers: 16, targetWorkers: 32,
		leaseDuration: defaultLeaseDuration, renewDeadline: defaultRenewDeadline, retryPeriod: defaultRetryPeriod}
	tests := map[string]struct {
		change    func(*options)
		wantErr   string
		wantQPS   float32
		wantBurst int
	}{
		"by default the client is not limited": {change: func(*options) {}, wantQPS: -1},
		"a QPS alone gets twice its burst":     {change: func(o *options) { o.apiQPS = 50 }, wantQPS: 50, wantBurst: 100},
		"QPS and burst":                        {change: func(o *options) { o.apiQPS, o.apiBurst = 20, 30 }, wantQPS: 20, wantBurst: 30},
		"a negative QPS is refused":            {change: func(o *options) { o.apiQPS = -5 }, wantErr: "--kube-api-qps=-5: must be 0"},
		"NaN is refused":                       {change: func(o *options) { o.apiQPS = math.NaN() }, wantErr: "--kube-api-qps=NaN"},
		"a burst without QPS is refused":       {change: func(o *options) { o.apiBurst = 10 }, wantErr: "set --kube-api-qps too"},
		"zero run workers are refused":         {change: func(o *options) { o.runWorkers = 0 }, wantErr: "--run-workers=0: must be between 1 and 1024; the default is 32"},
		"too many target workers are refused":  {change: func(o *options) { o.targetWorkers = 5000 }, wantErr: "--target-workers=5000"},
		"zero experiment workers are refused":  {change: func(o *options) { o.experimentWorkers = 0 }, wantErr: "--experiment-workers=0"},
		"short leader-election timings": {change: func(o *options) {
			o.leaseDuration, o.renewDeadline, o.retryPeriod = 4*time.Second, 3*time.Second, time.Second
		}, wantQPS: -1},
		"a zero retry period is refused": {change: func(o *options) { o.retryPeriod = 0 }, wantErr: "--leader-election-retry-period=0s: must be positive"},
		"a renew deadline no longer than the retry period is refused": {change: func(o *options) { o.renewDeadline = 2 * time.Second },
			wantErr: "--leader-election-renew-deadline=2s must be longer than --leader-election-retry-period=2s"},
		"a lease no longer than the renew deadline is refused": {change: func(o *options) { o.leaseDuration = 10 * time.Second },
			wantErr: "--leader-election-lease-duration=10s must be longer than --leader-election-renew-deadline=10s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := base
			tc.change(&o)
			err := o.validateLimits()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("validateLimits() = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validateLimits() = %v", err)
			}
			cfg := &rest.Config{QPS: 5, Burst: 10}
			o.applyClientLimits(cfg)
			if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst {
				t.Errorf("QPS, burst = %v, %d; want %v, %d", cfg.QPS, cfg.Burst, tc.wantQPS, tc.wantBurst)
			}
		})
	}
}
