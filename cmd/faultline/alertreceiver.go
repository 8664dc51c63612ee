package main

import (
	"flag"
	"fmt"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/internal/alertreceiver"
)

// alertReceiverOptions are the settings of the Alertmanager webhook receiver.
type alertReceiverOptions struct {
	// addr is the listen address; "0" or empty turns the receiver off.
	addr string
	// tokenFile holds the bearer token Alertmanager must send; empty
	// accepts any caller that reaches the port.
	tokenFile string
}

func bindAlertReceiverFlags(fs *flag.FlagSet, o *alertReceiverOptions) {
	fs.StringVar(&o.addr, "alert-receiver-bind-address", "0",
		"Address of the Alertmanager webhook receiver (path "+alertreceiver.Path+"), which dates the notifications of runs' detection alerts (timeline.notifiedAt); \"0\" (the default) turns it off. Add it to Alertmanager as a webhook receiver on a route with continue: true.")
	fs.StringVar(&o.tokenFile, "alert-receiver-token-file", "",
		"File holding the bearer token Alertmanager must send to the receiver (webhook_config http_config.authorization.credentials_file); empty accepts any caller that reaches the port.")
}

// setupAlertReceiver serves the receiver on the leader and gives the run
// controller its record; with the receiver off it does nothing.
func setupAlertReceiver(mgr ctrl.Manager, o alertReceiverOptions, runs *experimentrun.Reconciler) error {
	if o.addr == "" || o.addr == "0" {
		if o.tokenFile != "" {
			return fmt.Errorf("--alert-receiver-token-file needs --alert-receiver-bind-address, such as :9444")
		}
		return nil
	}
	realClock := clock.RealClock{}
	store := alertreceiver.NewStore(alertreceiver.DefaultCapacity)
	h := alertreceiver.NewHandler(store, realClock)
	if o.tokenFile != "" {
		token, err := alertreceiver.ReadToken(o.tokenFile)
		if err != nil {
			return err
		}
		h.Token = token
	}
	wakeups, notify := experimentrun.NotificationWakeups()
	h.Notified = notify
	runs.Notifications, runs.NotificationWakeups = store, wakeups
	if err := mgr.Add(&alertreceiver.Server{Addr: o.addr, Handler: h, Store: store, Clock: realClock}); err != nil {
		return fmt.Errorf("adding the Alertmanager receiver: %w", err)
	}
	return nil
}
