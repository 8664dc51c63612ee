// Package alertreceiver is the operator's Alertmanager webhook receiver: it
// records when Alertmanager sent a notification of an alert firing, so a run
// can report timeline.notifiedAt for its declared detection alerts.
//
// Users add the receiver to Alertmanager as an extra receiver on a route
// with continue: true; the operator serves it (--alert-receiver-bind-address).
// It records only notifications carrying its bearer token (TokenFile), since
// a forged one would date a run's notifiedAt and pass its notifyWithin, and
// serves HTTPS when given a certificate.
// Notifications are kept in memory, in a bounded record the run controller
// reads: an operator restart loses them, and runs say so.
package alertreceiver

import "time"

// PayloadVersion is the webhook payload version Faultline reads.
const PayloadVersion = "4"

// Payload is the part of Alertmanager's webhook payload (version 4) that
// Faultline reads. Alertmanager's own type (notify/webhook.Message) embeds
// template.Data, and importing it would link Alertmanager's notifier,
// configuration and template packages, and their dependencies, into the
// operator for six fields; the payload's JSON is a stable, documented format.
type Payload struct {
	// Version is the payload format, "4".
	Version string `json:"version"`
	// GroupKey identifies the alert group the notification is for.
	GroupKey string `json:"groupKey"`
	// Status is "firing" when any alert of the group fires, else "resolved".
	Status string `json:"status"`
	// Receiver is the name of the Alertmanager receiver that sent it.
	Receiver string `json:"receiver"`
	// TruncatedAlerts counts alerts left out by the receiver's max_alerts.
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
	// Alerts are the group's alerts, each firing or resolved.
	Alerts []Alert `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	// Status is "firing" or "resolved".
	Status string `json:"status"`
	// Labels identify the alert; alertname names its alerting rule.
	Labels map[string]string `json:"labels"`
	// StartsAt is when the alert started firing, by Prometheus' clock.
	StartsAt time.Time `json:"startsAt"`
}

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)
