package main

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/controllers/reaper"
	"github.com/faultline-dev/faultline/internal/buildinfo"
)

// registerMetrics registers Faultline's own metrics with reg (the manager's
// registry, beside controller-runtime's) and returns the run metrics the
// experimentrun controller records and the reaper's.
func registerMetrics(reg prometheus.Registerer) (*experimentrun.Metrics, *reaper.Metrics) {
	reg.MustRegister(buildinfo.NewCollector(buildinfo.Read(debug.ReadBuildInfo)))
	return experimentrun.NewMetrics(reg), reaper.NewMetrics(reg)
}
