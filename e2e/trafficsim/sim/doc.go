// Package sim is the library behind the trafficsim test fixture: it models
// the requests a real Istio mesh would serve for a few demo Services and
// exports the metrics Istio's telemetry would report for them.
//
// The testbed's demo pods run on kwok fake nodes, so there is no process to
// call. Instead every request is decided by a small model fed with what the
// cluster says: the number of ready endpoints in the Service's EndpointSlices
// (capacity, overload, outage) and the fault of the first matching http route
// of the Service's VirtualService (injected delay and abort). Probes can then
// run the same PromQL against Prometheus that they would run against a mesh.
//
// This package is a test fixture: the operator never imports it.
package sim
