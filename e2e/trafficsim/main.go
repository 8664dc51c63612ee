// Command trafficsim is a testbed fixture that makes Prometheus see what a
// real Istio mesh would report for the demo services.
//
// It runs as a local process against a cluster, watches each service's
// EndpointSlices and VirtualService, models every request from them (see
// package sim) and serves istio_requests_total and
// istio_request_duration_milliseconds on --listen for Prometheus to scrape.
// It is never shipped with the operator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline/e2e/trafficsim/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trafficsim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig  = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path to the kubeconfig of the cluster to watch")
		services    = flag.String("services", "shop/checkout,shop/cart,shop/payments", "comma-separated namespace/name of the services to send traffic to")
		rps         = flag.Float64("rps", 20, "requests per second sent to each service")
		listen      = flag.String("listen", "127.0.0.1:9464", "address serving /metrics and /healthz")
		capacity    = flag.Float64("capacity", 10, "requests per second one ready endpoint serves before it slows down and sheds load (0: unlimited)")
		headerShare = flag.Float64("header-share", 0.2, "share of requests sent with header "+sim.CanaryHeader+": \"true\", to exercise header-scoped faults")
		baseLatency = flag.Duration("base-latency", 20*time.Millisecond, "latency of a request served within capacity")
		tick        = flag.Duration("tick", 50*time.Millisecond, "how often a batch of requests is simulated")
		seed        = flag.Uint64("seed", 1, "seed of the random source, so a run can be replayed")
		reporter    = flag.String("reporter", "destination", "value of the reporter label")

		serviceRPS      = make(sim.ServiceValues)
		serviceCapacity = make(sim.ServiceValues)
		errorRate       = make(sim.ServiceValues)
	)
	flag.Var(serviceRPS, "service-rps", "requests per second sent to the services named, in place of --rps, as namespace/name=rps (comma-separated or repeated), such as shop/reviews=300")
	flag.Var(serviceCapacity, "service-capacity", "--capacity for the services named, as namespace/name=rps, such as shop/reviews=300")
	flag.Var(errorRate, "error-rate", "share of requests the services named answer 503 although within capacity (their natural noise), as namespace/name=share, such as shop/reviews=0.005; the others answer none")
	flag.Parse()

	refs, err := sim.ParseServices(*services)
	if err != nil {
		return err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	istio, err := istioclient.NewForConfig(restConfig)
	if err != nil {
		return err
	}

	s, err := sim.New(sim.Config{
		Services:        refs,
		RPS:             *rps,
		Capacity:        *capacity,
		ServiceRPS:      serviceRPS,
		ServiceCapacity: serviceCapacity,
		ErrorRate:       errorRate,
		HeaderShare:     *headerShare,
		BaseLatency:     *baseLatency,
		Tick:            *tick,
		Seed:            *seed,
		Reporter:        *reporter,
	}, kube, istio)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Listen before anything else runs, so a busy port fails the start
	// instead of leaving a simulator nobody can scrape.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
		stop()
	}()
	slog.Info("serving metrics", "addr", ln.Addr().String(), "services", *services, "rps", *rps,
		"service-rps", serviceRPS.String(), "service-capacity", serviceCapacity.String(), "error-rate", errorRate.String())

	runErr := s.Run(ctx)
	stop()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	return errors.Join(runErr, <-serveErr)
}
