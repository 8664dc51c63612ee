//go:build e2e

// Package e2e holds Faultline's end-to-end tests. They run against the
// testbed of hack/testbed-up.sh (a kwok cluster with the demo shop,
// trafficsim and Prometheus; README.md, "The testbed") with the operator
// built from this tree and run as a local process.
//
// Run them with `make e2e`, or `go test -tags e2e ./e2e`. TestMain brings the
// testbed up unless FAULTLINE_E2E_KUBECONFIG (or KUBECONFIG) names a cluster
// to use, and tears down only what it started. Environment:
//
//	FAULTLINE_E2E_KUBECONFIG  use this cluster instead of bringing up the testbed;
//	                          KUBECONFIG likewise when go test is run directly
//	FAULTLINE_E2E_KEEP=1      leave a testbed this run started up afterwards
//	FAULTLINE_E2E_OPERATOR=0  do not build and run the operator (one runs elsewhere)
//	FAULTLINE_E2E_OPERATOR_ADMIN=1  run the operator as the testbed's admin instead of
//	                          its ServiceAccount with the generated RBAC
//	PROMETHEUS_ADDR           Prometheus of the testbed (default 127.0.0.1:9090)
//
// The testbed, the operator process and the helpers every test uses are in
// package e2e/harness.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/faultline-dev/faultline/e2e/harness"
)

// tb is the testbed shared by every test of the package, set by TestMain.
var tb *harness.Testbed

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	start := time.Now()
	// The suite's clients log nothing; without a logger controller-runtime
	// prints a warning with a stack trace the first time one would.
	crlog.SetLogger(logr.Discard())
	// An interrupted run still stops the operator and a testbed it started;
	// the signal handler and the normal path share TearDown's once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if s, ok := <-sigs; ok {
			fmt.Fprintf(os.Stderr, "e2e: %s: tearing down\n", s)
			cancel()
			if tb != nil {
				tb.TearDown()
			}
			os.Exit(1)
		}
	}()

	var err error
	tb, err = harness.SetUpTestbed(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setting up: %v\n", err)
		if tb != nil {
			tb.TearDown()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: testbed and operator ready in %s\n", time.Since(start).Round(100*time.Millisecond))

	code := m.Run()
	tb.TearDown()
	fmt.Fprintf(os.Stderr, "e2e: done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return code
}
