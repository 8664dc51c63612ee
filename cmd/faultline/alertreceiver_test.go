package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/controllers/experimentrun"
)

func TestAlertReceiverIsOffByDefault(t *testing.T) {
	fs := flag.NewFlagSet("faultline", flag.ContinueOnError)
	var o alertReceiverOptions
	bindAlertReceiverFlags(fs, &o)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	runs := &experimentrun.Reconciler{}
	if err := setupAlertReceiver(nil, o, runs); err != nil {
		t.Fatalf("with the defaults: %v", err)
	}
	if runs.Notifications != nil || runs.NotificationWakeups != nil {
		t.Error("the receiver is off by default, yet runs were given its record")
	}
}

func TestAlertReceiverTokenNeedsAnAddress(t *testing.T) {
	err := setupAlertReceiver(nil, alertReceiverOptions{addr: "0", tokenFile: "/etc/token"}, &experimentrun.Reconciler{})
	if err == nil || !strings.Contains(err.Error(), "--alert-receiver-bind-address") {
		t.Errorf("a token file without an address = %v, want an error naming --alert-receiver-bind-address", err)
	}
}
