// Command kubectl-faultline is the kubectl plugin of Faultline: with the
// binary on PATH, `kubectl faultline run|report|abort|list` starts chaos
// experiments, waits for their verdicts (exiting with a code a CD pipeline can
// gate on), and prints their reports as text, Markdown, JSON or JUnit.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Interrupts are delivered to the commands rather than killing the
	// process: `run --wait` must be able to say that the run goes on (or
	// abort it, when asked) instead of vanishing mid-sentence.
	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	os.Exit(newApp(os.Stdout, os.Stderr, interrupts).execute(context.Background(), os.Args[1:]))
}
