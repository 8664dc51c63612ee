package probes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AlertFiring returns the alerts, of those named, that are firing at the
// instant at, in the order given. None firing is an empty result, not an
// error.
//
// A MetricsProvider answers with one sample, so the question is asked as a
// count: first one query for all the alerts together, which is the only one
// a sample makes while nothing fires (nearly always); only when that count
// is not empty, one query per alert, at the same instant, to tell which.
func AlertFiring(ctx context.Context, m MetricsProvider, alerts []string, at time.Time) ([]string, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	someFiring, err := anyFiring(ctx, m, alertsQuery(alerts), at)
	if err != nil || !someFiring {
		return nil, err
	}
	if len(alerts) == 1 {
		return alerts, nil
	}

	firing := make([]bool, len(alerts))
	errs := make([]error, len(alerts))
	var wg sync.WaitGroup
	for i, alert := range alerts {
		wg.Go(func() {
			firing[i], errs[i] = anyFiring(ctx, m, alertQuery(alert), at)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var names []string
	for i, alert := range alerts {
		if firing[i] {
			names = append(names, alert)
		}
	}
	return names, nil
}

// anyFiring runs a count query: no data means no firing series.
func anyFiring(ctx context.Context, m MetricsProvider, query string, at time.Time) (bool, error) {
	count, err := m.Query(ctx, query, at)
	switch {
	case errors.Is(err, ErrNoData):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("detection alerts: %w", err)
	}
	return count > 0, nil
}

// alertsQuery counts the firing series of any of alerts. Each name is
// regexp-quoted, because alert names may hold regex metacharacters such as
// "." and must match only themselves; Prometheus anchors the regex, so a name
// never matches a longer one. count by () keeps the answer to one sample
// however many series fire.
func alertsQuery(alerts []string) string {
	patterns := make([]string, len(alerts))
	for i, alert := range alerts {
		patterns[i] = regexp.QuoteMeta(alert)
	}
	return fmt.Sprintf(`count by () (ALERTS{alertname=~%s,alertstate="firing"})`, promQLString(strings.Join(patterns, "|")))
}

// alertQuery counts the firing series of one alert, by exact name.
func alertQuery(alert string) string {
	return fmt.Sprintf(`count by () (ALERTS{alertname=%s,alertstate="firing"})`, promQLString(alert))
}

// promQLString quotes s as a PromQL double-quoted string. PromQL unquotes
// strings with Go's escape rules, so strconv.Quote escapes exactly what a
// quote or backslash in a name needs (a regex backslash from QuoteMeta
// included).
func promQLString(s string) string {
	return strconv.Quote(s)
}

// AlertFiringTime is when Prometheus made an alert fire, from its own
// alert state.
type AlertFiringTime struct {
	// Since is the rule evaluation at which the alert's oldest firing
	// series started firing.
	Since time.Time
	// EvaluationInterval is the interval of the rule group that evaluates
	// the alert: the alert's condition held at most this long before
	// Prometheus saw it. Zero when Prometheus did not say.
	EvaluationInterval time.Duration
}

// AlertStates tells when alerts started firing. A MetricsProvider that
// can ask Prometheus' alert state implements it; Sampler uses it to date
// the alerts a sample sees firing.
type AlertStates interface {
	// FiringSince returns, for each of alerts that Prometheus has firing
	// now, when it started firing. An alert not firing, or not found among
	// the alerting rules, is absent.
	FiringSince(ctx context.Context, alerts []string) (map[string]AlertFiringTime, error)
}
