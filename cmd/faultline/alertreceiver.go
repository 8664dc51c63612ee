package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/internal/alertreceiver"
)

// alertReceiverOptions are the settings of the Alertmanager webhook receiver.
type alertReceiverOptions struct {
	// addr is the listen address; "0" or empty turns the receiver off.
	addr string
	// tokenFile holds the bearer token Alertmanager must send. The
	// receiver refuses to start without one unless insecure.
	tokenFile string
	// insecure accepts callers without a token: test clusters only.
	insecure bool
	// tlsCertFile and tlsKeyFile, both or neither, serve HTTPS.
	tlsCertFile, tlsKeyFile string
}

func bindAlertReceiverFlags(fs *flag.FlagSet, o *alertReceiverOptions) {
	fs.StringVar(&o.addr, "alert-receiver-bind-address", "0",
		"Address of the Alertmanager webhook receiver (path "+alertreceiver.Path+"), which dates the notifications of runs' detection alerts (timeline.notifiedAt); \"0\" (the default) turns it off. Add it to Alertmanager as a webhook receiver on a route with continue: true. It needs --alert-receiver-token-file, or --alert-receiver-insecure.")
	fs.StringVar(&o.tokenFile, "alert-receiver-token-file", "",
		"File holding the bearer token Alertmanager must send to the receiver (webhook_config http_config.authorization.credentials_file, sent as \"Authorization: Bearer <token>\"). Read again whenever it changes, so a rotated Secret takes effect without a restart.")
	fs.BoolVar(&o.insecure, "alert-receiver-insecure", false,
		"Accept notifications without a token, from anyone who reaches the receiver's port. For test clusters only: anyone could then forge the notifications that runs' notifiedAt and notifyWithin are judged on.")
	fs.StringVar(&o.tlsCertFile, "alert-receiver-tls-cert-file", "",
		"Certificate (PEM) the receiver serves HTTPS with, with --alert-receiver-tls-key-file; empty serves plain HTTP. Reloaded when the file changes, as a mounted Secret's does when it is renewed.")
	fs.StringVar(&o.tlsKeyFile, "alert-receiver-tls-key-file", "",
		"Private key (PEM) of --alert-receiver-tls-cert-file.")
}

func (o alertReceiverOptions) enabled() bool { return o.addr != "" && o.addr != "0" }

// validate reports, before anything starts, settings that cannot work or
// that would let anyone who reaches the port record notifications.
func (o alertReceiverOptions) validate() error {
	if !o.enabled() {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"--alert-receiver-token-file", o.tokenFile != ""},
			{"--alert-receiver-insecure", o.insecure},
			{"--alert-receiver-tls-cert-file", o.tlsCertFile != ""},
			{"--alert-receiver-tls-key-file", o.tlsKeyFile != ""},
		} {
			if f.set {
				return fmt.Errorf("%s needs --alert-receiver-bind-address, such as :9444", f.name)
			}
		}
		return nil
	}
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return errors.New("--alert-receiver-tls-cert-file and --alert-receiver-tls-key-file go together: pass both (the tls.crt and tls.key of a certificate for the receiver's address) to serve HTTPS, or neither")
	}
	switch {
	case o.tokenFile == "" && !o.insecure:
		return fmt.Errorf("the Alertmanager receiver on %s has no token, so anyone who reaches the port could record notifications: pass --alert-receiver-token-file with the bearer token Alertmanager sends (webhook_config http_config.authorization.credentials_file), or --alert-receiver-insecure on a test cluster", o.addr)
	case o.tokenFile != "" && o.insecure:
		return errors.New("--alert-receiver-insecure accepts callers without a token, and --alert-receiver-token-file asks for one: pass one of them")
	}
	return nil
}

// alertReceiver is the receiver's server and what it serves with.
type alertReceiver struct {
	server  *alertreceiver.Server
	handler *alertreceiver.Handler
	store   *alertreceiver.Store
	// certs follows the certificate files; nil for plain HTTP.
	certs *certwatcher.CertWatcher
}

// newAlertReceiver reads the token and certificate files once, so a wrong
// path or a bad certificate fails the operator's start and not a later
// leader election; nil when the receiver is off.
func newAlertReceiver(o alertReceiverOptions, log logr.Logger) (*alertReceiver, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if !o.enabled() {
		return nil, nil
	}
	realClock := clock.RealClock{}
	store := alertreceiver.NewStore(alertreceiver.DefaultCapacity)
	h := alertreceiver.NewHandler(store, realClock)
	if o.insecure {
		h.Insecure = true
		log.Info("WARNING: the Alertmanager receiver accepts notifications without a token (--alert-receiver-insecure): anyone who reaches its port can forge the notifications runs are judged on; use it on test clusters only",
			"address", o.addr)
	} else {
		tokens, err := alertreceiver.OpenTokenFile(o.tokenFile)
		if err != nil {
			return nil, err
		}
		h.Token = tokens
	}
	r := &alertReceiver{store: store, handler: h, server: &alertreceiver.Server{Addr: o.addr, Handler: h, Store: store, Clock: realClock}}
	if o.tlsCertFile != "" {
		certs, err := certwatcher.New(o.tlsCertFile, o.tlsKeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading --alert-receiver-tls-cert-file %s and --alert-receiver-tls-key-file %s: %w", o.tlsCertFile, o.tlsKeyFile, err)
		}
		r.certs = certs
		r.server.GetCertificate = certs.GetCertificate
	}
	return r, nil
}

// setupAlertReceiver serves the receiver on the leader and gives the run
// controller its record; with the receiver off it does nothing.
func setupAlertReceiver(mgr ctrl.Manager, o alertReceiverOptions, runs *experimentrun.Reconciler, log logr.Logger) error {
	r, err := newAlertReceiver(o, log)
	if err != nil || r == nil {
		return err
	}
	wakeups, notify := experimentrun.NotificationWakeups()
	r.handler.Notified = notify
	runs.Notifications, runs.NotificationWakeups = r.store, wakeups
	if r.certs != nil {
		if err := mgr.Add(r.certs); err != nil {
			return fmt.Errorf("adding the Alertmanager receiver's certificate watcher: %w", err)
		}
	}
	if err := mgr.Add(r.server); err != nil {
		return fmt.Errorf("adding the Alertmanager receiver: %w", err)
	}
	return nil
}
