// Package harness is what Faultline's end-to-end suite, its soak campaign
// and its testbed benchmarks (package e2e, build tag e2e) run on: the
// testbed of hack/testbed-up.sh (a kwok cluster with the demo shop,
// trafficsim, Prometheus and Alertmanager; README.md, "The testbed")
// brought up or found and connected to, the operator built from this tree
// and run as a local process under its own ServiceAccount, the admission
// webhooks pointed at that process, and the helpers that wait on, query
// and change all of these.
//
// SetUpTestbed brings the testbed up unless FAULTLINE_E2E_KUBECONFIG (or
// KUBECONFIG) names a cluster to use, and TearDown tears down only what it
// started. Environment:
//
//	FAULTLINE_E2E_KUBECONFIG  use this cluster instead of bringing up the testbed;
//	                          KUBECONFIG likewise when go test is run directly
//	FAULTLINE_E2E_KEEP=1      leave a testbed this run started up afterwards
//	FAULTLINE_E2E_OPERATOR=0  do not build and run the operator (one runs elsewhere)
//	FAULTLINE_E2E_OPERATOR_ADMIN=1  run the operator as the testbed's admin instead of
//	                          its ServiceAccount with the generated RBAC
//	FAULTLINE_TESTBED_DIR     the testbed's state directory (default .testbed)
//	PROMETHEUS_ADDR           Prometheus of the testbed (default 127.0.0.1:9090)
//
// Helpers that take a testing.TB fail or skip the test themselves and are
// safe in a t.Cleanup; the others return errors, for conditions polled by
// Poll and WaitFor.
//
// The package carries no build tag, so that `make lint` checks it; only
// package e2e, which holds the tests, needs the e2e tag.
package harness
