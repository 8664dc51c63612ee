package alertreceiver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Path is where the receiver serves Alertmanager's webhook.
const Path = "/alertmanager"

// DefaultMaxBodyBytes bounds a webhook request's body. Alertmanager sends
// every alert of a group in one payload (a few hundred bytes each), so 4 MiB
// holds thousands; a bigger body is refused before it is read whole.
const DefaultMaxBodyBytes = 4 << 20

// DefaultMaxConcurrent is how many webhook requests are handled at once;
// more are answered 503 at once, which Alertmanager retries.
const DefaultMaxConcurrent = 8

// Handler serves Alertmanager's webhook: it records each firing alert of a
// notification in Store with the instant the request arrived, then calls
// Notified for each alert name recorded.
type Handler struct {
	// Store receives the notifications.
	Store *Store
	// Clock dates the requests' arrival.
	Clock clock.PassiveClock
	// Token is the bearer token Alertmanager must send
	// (http_config.authorization.credentials_file in its webhook_config).
	// Without one every request is refused, unless Insecure.
	Token TokenSource
	// Insecure accepts requests without a token, from anyone who reaches
	// the port: for test clusters only (--alert-receiver-insecure).
	Insecure bool
	// MaxBodyBytes bounds a request's body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Notified, when set, is called with the alert names of each accepted
	// notification, to wake the runs that wait for them. It must not block.
	Notified func(alerts []string)

	slots chan struct{}
}

// NewHandler returns a Handler over store, dating requests by clk.
func NewHandler(store *Store, clk clock.PassiveClock) *Handler {
	return &Handler{Store: store, Clock: clk, slots: make(chan struct{}, DefaultMaxConcurrent)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// The arrival instant is taken first: reading a large body, or waiting
	// for a slot, must not make the notification look later than it was.
	received := h.Clock.Now()
	if req.URL.Path != Path {
		http.Error(w, fmt.Sprintf("not found: Alertmanager's webhook_config url must end in %s", Path), http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: Alertmanager's webhook sends POST", http.StatusMethodNotAllowed)
		return
	}
	if h.slots != nil {
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
		default:
			http.Error(w, "busy: try again", http.StatusServiceUnavailable)
			return
		}
	}
	if why := h.refusal(req); why != "" {
		ctrl.LoggerFrom(req.Context()).V(1).Info("refused a notification", "remote", req.RemoteAddr, "reason", why)
		w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
		http.Error(w, "unauthorized: "+why, http.StatusUnauthorized)
		return
	}
	groupWait, err := parseGroupWait(req.URL.Query().Get("groupWait"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	var p Payload
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, limit))
	if err := dec.Decode(&p); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("payload larger than %d bytes: lower the receiver's max_alerts in Alertmanager's webhook_config", limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "payload is not Alertmanager webhook JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if p.Version != PayloadVersion {
		http.Error(w, fmt.Sprintf("payload version %q is not supported: Faultline reads version %s, what Alertmanager's webhook_config sends", clip(p.Version), PayloadVersion), http.StatusBadRequest)
		return
	}
	var ns []Notification
	var names []string
	for _, a := range p.Alerts {
		name := a.Labels["alertname"]
		if a.Status != StatusFiring || name == "" {
			continue
		}
		ns = append(ns, Notification{ReceivedAt: received, Alert: name, Namespace: a.Labels["namespace"], StartsAt: a.StartsAt, Receiver: p.Receiver, GroupWait: groupWait})
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	h.Store.Add(ns...)
	if h.Notified != nil && len(names) > 0 {
		h.Notified(names)
	}
	w.WriteHeader(http.StatusOK)
}

// refusal says why req may not be recorded, or is empty when it may.
func (h *Handler) refusal(req *http.Request) string {
	if h.Insecure {
		return ""
	}
	if h.Token == nil {
		// Fails closed: a Handler nobody gave a token accepts no one.
		return "the receiver has no token to check: start it with --alert-receiver-token-file"
	}
	return refusal(req.Header.Get("Authorization"), h.Token.Token(req.Context()))
}

// parseGroupWait reads the route's group_wait the receiver URL declares.
func parseGroupWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("groupWait %q in the receiver URL is not a duration between 0s and 24h: write the route's group_wait, such as ?groupWait=30s", clip(s))
	}
	return d, nil
}

// Server serves a Handler on Addr as a manager Runnable, on the elected
// leader only: the leader drives the runs, and notifications are kept in its
// memory. A replica that does not lead refuses the connection, and
// Alertmanager retries the delivery, reaching the leader.
type Server struct {
	// Addr is the listen address, such as ":9444".
	Addr string
	// Handler serves the webhook.
	Handler http.Handler
	// Store, when set, is told when the server starts accepting requests.
	Store *Store
	// Clock dates that start.
	Clock clock.PassiveClock
	// GetCertificate, when set, serves HTTPS with the certificate it
	// returns for each connection: a certwatcher's, which follows a
	// mounted Secret's renewals without a restart. Unset serves plain HTTP.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// NeedLeaderElection says the receiver runs on the leader only.
func (s *Server) NeedLeaderElection() bool { return true }

// Start serves until ctx is done, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("alert receiver: listening on %s: %w", s.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done. Every phase of a request has a
// deadline, so a client that sends slowly or never reads cannot hold a
// connection, and headers are bounded like the body.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := ctrl.LoggerFrom(ctx).WithName("alert-receiver")
	mux := http.NewServeMux()
	mux.Handle(Path, s.Handler)
	mux.Handle("/", s.Handler) // answers 404 saying which path to use
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// Requests carry the logger, not the cancellation: a request in
		// flight at shutdown is finished, not cut short.
		BaseContext: func(net.Listener) context.Context { return ctrl.LoggerInto(context.WithoutCancel(ctx), log) },
	}
	scheme := "http"
	if s.GetCertificate != nil {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{
			GetCertificate: s.GetCertificate,
			MinVersion:     tls.VersionTLS12,
			// HTTP/1.1 only, as the webhook and metrics servers by default:
			// HTTP/2 rapid resets (CVE-2023-44487) let one client exhaust a
			// server, and Alertmanager's webhook needs nothing more.
			NextProtos: []string{"http/1.1"},
		})
	}
	log.Info("serving Alertmanager's webhook", "address", ln.Addr().String(), "path", Path, "scheme", scheme)
	if s.Store != nil && s.Clock != nil {
		s.Store.MarkStarted(s.Clock.Now())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("alert receiver: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("alert receiver: shutting down: %w", err)
	}
	return nil
}
