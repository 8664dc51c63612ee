package alertreceiver

import (
	"slices"
	"sync"
	"time"
)

// DefaultCapacity is how many notified alerts the Store keeps. Runs read the
// record at every reconcile, at most one probe interval apart, and the
// receiver wakes them at once; only more than this many firing alerts
// notified within that time could push a run's notification out first.
const DefaultCapacity = 4096

// ClockSkew is how much earlier than a run's injection an alert's startsAt
// (Prometheus' clock) may be and still count as caused by it: Prometheus and
// the operator read different clocks.
const ClockSkew = 5 * time.Second

// maxFieldLength bounds the strings a Notification keeps, so the record's
// memory is bounded by its capacity whatever the payloads hold.
const maxFieldLength = 253

// Notification is one firing alert of one Alertmanager notification, as the
// receiver recorded it.
type Notification struct {
	// ReceivedAt is when the webhook request reached the receiver: the
	// honest instant for "Alertmanager sent it" (Alertmanager does not say).
	ReceivedAt time.Time
	// Alert is the alert's alertname label.
	Alert string
	// Namespace is the alert's namespace label, empty when it has none
	// (an alert about the whole cluster, or one that aggregates it away).
	Namespace string
	// StartsAt is when the alert started firing, by Prometheus' clock.
	StartsAt time.Time
	// Receiver is the Alertmanager receiver that sent it.
	Receiver string
	// GroupWait is the route's group_wait as the receiver URL declares it
	// (?groupWait=30s); zero when not declared.
	GroupWait time.Duration
}

// Store is a bounded, in-memory record of notified firing alerts: when it is
// full the oldest are forgotten. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	entries []Notification
	next    int
	full    bool
	started time.Time
}

// NewStore returns an empty record of capacity entries (DefaultCapacity when
// zero or less).
func NewStore(capacity int) *Store {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Store{entries: make([]Notification, capacity)}
}

// MarkStarted records when the receiver began to accept notifications.
func (s *Store) MarkStarted(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = at
}

// Started is when the receiver began to accept notifications (zero until
// it does): notifications sent before it, while the operator was down or
// another replica led, are not in the record.
func (s *Store) Started() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Add records notifications, forgetting the oldest when full.
func (s *Store) Add(ns ...Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range ns {
		n.Alert, n.Namespace, n.Receiver = clip(n.Alert), clip(n.Namespace), clip(n.Receiver)
		s.entries[s.next] = n
		s.next++
		if s.next == len(s.entries) {
			s.next, s.full = 0, true
		}
	}
}

// First is the earliest recorded notification of one of alerts received at
// or after notBefore, for an alert that started firing no earlier than
// notBefore less ClockSkew: an alert already firing before a run's
// injection was not caused by it, even when Alertmanager notifies it again.
func (s *Store) First(alerts []string, notBefore time.Time) (Notification, bool) {
	return s.FirstIn(alerts, nil, notBefore)
}

// FirstIn is First for the alerts of namespaces: an alert labelled with
// another namespace is another team's incident, even under the same name,
// and is not counted; an alert without a namespace label counts for any.
// No namespaces means any.
func (s *Store) FirstIn(alerts, namespaces []string, notBefore time.Time) (Notification, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	if s.full {
		n = len(s.entries)
	}
	var first Notification
	found := false
	for _, e := range s.entries[:n] {
		if e.ReceivedAt.Before(notBefore) || !slices.Contains(alerts, e.Alert) {
			continue
		}
		if e.Namespace != "" && len(namespaces) > 0 && !slices.Contains(namespaces, e.Namespace) {
			continue
		}
		if !e.StartsAt.IsZero() && e.StartsAt.Before(notBefore.Add(-ClockSkew)) {
			continue
		}
		if !found || e.ReceivedAt.Before(first.ReceivedAt) {
			first, found = e, true
		}
	}
	return first, found
}

func clip(s string) string {
	if len(s) <= maxFieldLength {
		return s
	}
	return s[:maxFieldLength]
}
