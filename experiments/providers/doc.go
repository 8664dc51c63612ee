// Package providers answers the steady-state checks: Prometheus queries
// (instant, range and the rules API's alert state) over HTTP, and workload
// readiness read or watched from the API server. The Sampler takes one
// sample of an Experiment's checks through them. What an answer means is
// decided in package probes, which does no I/O.
package providers
