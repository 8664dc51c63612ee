package providers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/faultline-dev/faultline/experiments/probes"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// DefaultPrometheusTimeout is the deadline of one Prometheus query when the
// provider states none (or zero, as objects stored before the schema
// refused it may): a query never goes without a deadline, or one silent
// server would hold a reconcile worker, and the kill switch behind it.
const DefaultPrometheusTimeout = 5 * time.Second

// maxErrorBytes caps the text of a provider error. It ends up in
// status.probes[].lastError, Events and logs; a provider answers what it
// likes, and none of that may fill an object or smuggle its body out.
const maxErrorBytes = 256

// maxQueryInError is how much of a query an error quotes.
const maxQueryInError = 80

// Prometheus is a MetricsProvider that runs instant queries against a
// Prometheus HTTP API. It takes client_golang's promv1.API so tests and
// callers can point it at any server, a real test server included.
type Prometheus struct {
	api     promv1.API
	timeout time.Duration
}

// NewPrometheus returns a provider that queries api, giving each query at
// most timeout; zero or less means DefaultPrometheusTimeout.
func NewPrometheus(api promv1.API, timeout time.Duration) *Prometheus {
	if timeout <= 0 {
		timeout = DefaultPrometheusTimeout
	}
	return &Prometheus{api: api, timeout: timeout}
}

var _ probes.MetricsProvider = (*Prometheus)(nil)

// Query evaluates query at the instant at and returns its one value.
//
// The query must yield exactly one sample: an instant vector of one element
// or a scalar. An empty vector wraps ErrNoData and a vector of several wraps
// ErrMultipleSeries, so the caller can tell an absent series from a query
// that needs aggregating. Warnings are logged at V(1), not returned: a
// partial-data warning from one shard should not make a probe unmeasurable.
//
// A failed query is told in a fixed text of at most maxErrorBytes (see
// ProviderError): never the provider's response body.
func (p *Prometheus) Query(ctx context.Context, query string, at time.Time) (float64, error) {
	queryCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	value, warnings, _, err := p.api.Query(queryCtx, query, at)
	if len(warnings) > 0 {
		logr.FromContextOrDiscard(ctx).V(1).Info("Prometheus query returned warnings", "query", query, "warnings", []string(warnings))
	}
	if err != nil {
		return 0, describeQueryError(ctx, queryCtx, p.timeout, query, err)
	}
	return singleValue(query, value)
}

// ProviderError is a failed provider call, described in a fixed, bounded
// text: what went wrong in words Faultline chose (a timeout, a refused
// connection, an HTTP status, an answer that was not the provider's API),
// quoting only what the user wrote (the query, the address from the
// policy's allow-list) and the messages Prometheus itself gives about the
// user's query. It unwraps to the context's error when the caller gave up,
// and to nothing else: the raw client error may carry the body.
type ProviderError struct {
	msg   string
	cause error
}

// Error is the bounded description.
func (e *ProviderError) Error() string { return e.msg }

// Unwrap returns the caller's context error, if that ended the call.
func (e *ProviderError) Unwrap() error { return e.cause }

// newProviderError builds a ProviderError, bounding its text.
func newProviderError(cause error, format string, args ...any) *ProviderError {
	return &ProviderError{msg: boundText(fmt.Sprintf(format, args...), maxErrorBytes), cause: cause}
}

// describeQueryError maps a client_golang error to a ProviderError.
func describeQueryError(ctx, queryCtx context.Context, timeout time.Duration, query string, err error) error {
	q := boundText(query, maxQueryInError)
	if ctx.Err() != nil {
		// The caller gave up (the operator is stopping): not the provider's fault.
		return newProviderError(ctx.Err(), "prometheus query `%s`: cancelled: %v", q, ctx.Err())
	}
	// queryCtx is asked, not err: client_golang does not promise to wrap
	// the context's error. The message names our own deadline, so the user
	// knows which timeout to raise.
	if errors.Is(queryCtx.Err(), context.DeadlineExceeded) {
		return newProviderError(nil, "prometheus query `%s`: no answer within %s (provider.prometheus.timeout)", q, timeout)
	}
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) {
		return newProviderError(nil, "prometheus query `%s`: %s", q, describeAPIError(apiErr))
	}
	return newProviderError(nil, "prometheus query `%s`: %s", q, describeTransportError(err))
}

// describeAPIError describes an error client_golang read from an answer.
func describeAPIError(e *promv1.Error) string {
	switch e.Type {
	case promv1.ErrBadData, promv1.ErrExec:
		// Prometheus' own words about the user's query ("parse error ...",
		// "query processing would load too many samples"): worth keeping.
		return fmt.Sprintf("Prometheus refused the query (%s): %s", e.Type, e.Msg)
	case promv1.ErrTimeout:
		return "Prometheus gave up evaluating the query (its query timeout); simplify the query or raise Prometheus' -query.timeout"
	case promv1.ErrCanceled:
		return "Prometheus cancelled the query"
	case promv1.ErrClient, promv1.ErrServer:
		if code, ok := httpStatusOf(e.Msg); ok {
			return fmt.Sprintf("HTTP %d from the provider%s", code, statusHint(code))
		}
		return "the provider answered with an HTTP error"
	case promv1.ErrBadResponse:
		if code, ok := httpStatusOf(e.Msg); ok {
			return fmt.Sprintf("HTTP %d from the provider%s", code, statusHint(code))
		}
		return "the answer was not a Prometheus API response; check provider.prometheus.address points at Prometheus' HTTP API"
	}
	return "the answer was not a Prometheus API response; check provider.prometheus.address points at Prometheus' HTTP API"
}

// httpStatusOf reads the status code from client_golang's messages for
// HTTP errors ("server error: 502", "client error: 403", "bad response code 302").
func httpStatusOf(msg string) (int, bool) {
	for _, prefix := range []string{"server error: ", "client error: ", "bad response code "} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			if code, err := strconv.Atoi(rest); err == nil && code >= 100 && code <= 599 {
				return code, true
			}
		}
	}
	return 0, false
}

// statusHint says what an HTTP status usually means for a query.
func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "; check the credentials of provider.prometheus.auth"
	case http.StatusNotFound:
		return "; check provider.prometheus.address is the base URL of Prometheus' HTTP API"
	}
	return ""
}

// describeTransportError describes a failure to reach the provider. The
// dialled address is kept: it comes from the Experiment and the policy's
// allow-list, not from the provider.
func describeTransportError(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return fmt.Sprintf("cannot resolve host %s: no such host", dnsErr.Name)
		}
		return fmt.Sprintf("cannot resolve host %s: DNS lookup failed", dnsErr.Name)
	}
	host := ""
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil {
			host = u.Host
		}
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s", host)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("connection to %s closed before an answer", host)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("no route to %s", host)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Sprintf("the TLS certificate of %s could not be verified", host)
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return fmt.Sprintf("%s did not answer TLS; check the scheme of provider.prometheus.address", host)
	}
	return fmt.Sprintf("the request to %s failed", host)
}

// boundText strips control and bidirectional-override characters from s
// and cuts it to at most limit bytes on a character boundary.
func boundText(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// singleValue extracts the one number a probe judges from a query result.
func singleValue(query string, value model.Value) (float64, error) {
	// The messages quote the query; a long one is cut, as every provider
	// error is bounded.
	query = boundText(query, maxQueryInError)
	switch v := value.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("prometheus query `%s`: %w", query, probes.ErrNoData)
		case 1:
			if v[0].Histogram != nil {
				return 0, fmt.Errorf("prometheus query `%s` returned a native histogram, not a number; use histogram_quantile, histogram_count or histogram_sum", query)
			}
			return float64(v[0].Value), nil
		default:
			return 0, fmt.Errorf("prometheus query `%s` returned %d series: %w", query, len(v), probes.ErrMultipleSeries)
		}
	case model.Matrix:
		return 0, fmt.Errorf("prometheus query `%s` returned a range vector; a probe needs one instant value: wrap the range selector in a function such as rate() or avg_over_time()", query)
	case *model.String:
		return 0, fmt.Errorf("prometheus query `%s` returned a string, not a number", query)
	case nil:
		return 0, fmt.Errorf("prometheus query `%s` returned no result at all", query)
	default:
		return 0, fmt.Errorf("prometheus query `%s` returned a %s, not a number", query, value.Type())
	}
}

// Credentials authenticate Faultline to a Prometheus server. Its String and
// GoString methods redact the secrets, so logging a Credentials by mistake
// does not leak them.
type Credentials struct {
	// Type is Bearer or Basic.
	Type chaosv1alpha1.AuthType
	// Token is the bearer token, for Type Bearer.
	Token string
	// Username for Type Basic.
	Username string
	// Password for Type Basic.
	Password string
}

// String describes c without its secrets.
func (c Credentials) String() string {
	if c.Type == chaosv1alpha1.AuthBasic {
		return fmt.Sprintf("Basic (username %q, password redacted)", c.Username)
	}
	return fmt.Sprintf("%s (redacted)", c.Type)
}

// GoString is String, so %#v redacts too.
func (c Credentials) GoString() string { return c.String() }

// NewPrometheusClient returns a client for the Prometheus HTTP API at addr,
// sending auth with every request when it is not nil.
//
// The authentication is a small RoundTripper of our own rather than
// prometheus/common/config's, whose package would pull two more modules
// (a JWT library and a connection tracker) into the operator for two headers.
func NewPrometheusClient(addr string, auth *Credentials) (promv1.API, error) {
	rt := api.DefaultRoundTripper
	if auth != nil {
		switch auth.Type {
		case chaosv1alpha1.AuthBearer, chaosv1alpha1.AuthBasic:
			rt = &authRoundTripper{credentials: *auth, next: rt}
		default:
			return nil, fmt.Errorf("prometheus auth type %q is not Bearer or Basic", auth.Type)
		}
	}
	client, err := api.NewClient(api.Config{Address: addr, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %q: %w", addr, err)
	}
	return promv1.NewAPI(client), nil
}

// authRoundTripper adds the Authorization header to each request.
type authRoundTripper struct {
	credentials Credentials
	next        http.RoundTripper
}

// RoundTrip sets the credentials on a copy of req, as the RoundTripper
// contract forbids changing the caller's request. It leaves them off a
// redirect to another host: net/http strips Authorization there, and adding
// it back here would hand our token to whatever host Prometheus redirects to.
func (rt *authRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response != nil && req.Response.Request != nil && req.Response.Request.URL.Host != req.URL.Host {
		return rt.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	switch rt.credentials.Type {
	case chaosv1alpha1.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+rt.credentials.Token)
	case chaosv1alpha1.AuthBasic:
		req.SetBasicAuth(rt.credentials.Username, rt.credentials.Password)
	}
	return rt.next.RoundTrip(req)
}

// Keys of the auth Secret, as documented on chaosv1alpha1.AuthType.
const (
	secretKeyToken    = "token"
	secretKeyUsername = "username"
	secretKeyPassword = "password"
)

// CredentialsFromSecret reads the credentials auth names from secret, which
// the caller fetched from the Experiment's namespace. A missing or empty key
// is an error that names the Secret and the key, so the user knows what to fix.
//
// One trailing line break is dropped from each value: a Secret made with
// kubectl create secret --from-file from an editor-saved file carries one,
// and a token with "\n" appended is rejected by the server as a bad token.
func CredentialsFromSecret(secret *corev1.Secret, auth chaosv1alpha1.PrometheusAuth) (*Credentials, error) {
	if secret == nil {
		return nil, fmt.Errorf("prometheus auth Secret %q was not given", auth.SecretName)
	}
	read := func(key string) (string, error) {
		value := strings.TrimSuffix(strings.TrimSuffix(string(secret.Data[key]), "\n"), "\r")
		if value == "" {
			return "", fmt.Errorf("prometheus auth Secret %s/%s has no key %q (or it is empty); %s auth needs it", secret.Namespace, secret.Name, key, auth.Type)
		}
		return value, nil
	}
	switch auth.Type {
	case chaosv1alpha1.AuthBearer:
		token, err := read(secretKeyToken)
		if err != nil {
			return nil, err
		}
		return &Credentials{Type: chaosv1alpha1.AuthBearer, Token: token}, nil
	case chaosv1alpha1.AuthBasic:
		username, err := read(secretKeyUsername)
		if err != nil {
			return nil, err
		}
		password, err := read(secretKeyPassword)
		if err != nil {
			return nil, err
		}
		return &Credentials{Type: chaosv1alpha1.AuthBasic, Username: username, Password: password}, nil
	default:
		return nil, fmt.Errorf("prometheus auth type %q is not Bearer or Basic", auth.Type)
	}
}

var _ probes.AlertStates = (*Prometheus)(nil)

// FiringSince dates the firing alerts among alerts from Prometheus' rules
// API (GET /api/v1/rules), the evaluator's own alert state.
//
// Why the rules API: one answer holds, from the same evaluator at the same
// moment, each alerting rule's `for`, its group's evaluation interval and
// its active alerts with their state and activeAt. /api/v1/alerts lacks
// the `for` (a second request, which a load balancer may send to another
// replica with other activeAt values); ALERTS_FOR_STATE holds activeAt in
// whole seconds only, and still needs the `for` from the rules.
//
// activeAt is the evaluation at which the alert became pending. Prometheus
// evaluates the group every interval and fires the alert at the first
// evaluation at least `for` after activeAt: activeAt plus `for` rounded up
// to whole intervals (activeAt itself when `for` is zero). Several rules
// may share an alert name, and a rule may have several firing series; the
// earliest firing instant is the one the alert started firing at.
// keep_firing_for does not matter: it only delays the end of firing.
//
// A Prometheus restarted since the alert became pending may have reset
// activeAt (it restores it only for long `for` windows): the instant is
// then later than the true one, never earlier. The caller still bounds it
// by the sample that saw the alert firing.
func (p *Prometheus) FiringSince(ctx context.Context, alerts []string) (map[string]probes.AlertFiringTime, error) {
	queryCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rules, err := p.api.Rules(queryCtx, nil)
	if err != nil {
		return nil, describeQueryError(ctx, queryCtx, p.timeout, "rules of "+strings.Join(alerts, ", "), err)
	}
	return firingSince(rules, alerts), nil
}

// firingSince reads the firing instants of alerts from a rules answer.
func firingSince(rules promv1.RulesResult, alerts []string) map[string]probes.AlertFiringTime {
	wanted := make(map[string]bool, len(alerts))
	for _, a := range alerts {
		wanted[a] = true
	}
	out := map[string]probes.AlertFiringTime{}
	for _, group := range rules.Groups {
		interval := secondsToDuration(group.Interval)
		for _, rule := range group.Rules {
			ar, ok := rule.(promv1.AlertingRule)
			if !ok || !wanted[ar.Name] {
				continue
			}
			hold := secondsToDuration(ar.Duration)
			for _, a := range ar.Alerts {
				if a == nil || a.State != promv1.AlertStateFiring || a.ActiveAt.IsZero() {
					continue
				}
				firedAt := a.ActiveAt.Add(firingDelay(hold, interval))
				if prev, ok := out[ar.Name]; ok && !firedAt.Before(prev.Since) {
					continue
				}
				out[ar.Name] = probes.AlertFiringTime{Since: firedAt, EvaluationInterval: interval}
			}
		}
	}
	return out
}

// firingDelay is how long after activeAt an alert with `for` hold fires,
// in a group evaluated every interval: the first evaluation at least hold
// after the one that made it pending.
func firingDelay(hold, interval time.Duration) time.Duration {
	if hold <= 0 {
		return 0
	}
	if interval <= 0 {
		return hold
	}
	evaluations := int64((hold + interval - 1) / interval)
	return time.Duration(evaluations) * interval
}

// secondsToDuration converts the float seconds of the Prometheus API.
func secondsToDuration(s float64) time.Duration {
	if s <= 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	return time.Duration(math.Round(s * float64(time.Second)))
}

var _ probes.RangeProvider = (*Prometheus)(nil)

// QueryRange evaluates query at every step from start to end (GET
// /api/v1/query_range) and returns its one series. Errors are bounded as
// Query's are.
func (p *Prometheus) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]probes.Point, error) {
	queryCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	value, warnings, _, err := p.api.QueryRange(queryCtx, query, promv1.Range{Start: start, End: end, Step: step})
	if len(warnings) > 0 {
		logr.FromContextOrDiscard(ctx).V(1).Info("Prometheus range query returned warnings", "query", query, "warnings", []string(warnings))
	}
	if err != nil {
		return nil, describeQueryError(ctx, queryCtx, p.timeout, query, err)
	}
	q := boundText(query, maxQueryInError)
	matrix, ok := value.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("prometheus range query `%s` returned a %s, not a matrix", q, typeName(value))
	}
	switch len(matrix) {
	case 0:
		return nil, fmt.Errorf("prometheus range query `%s`: %w", q, probes.ErrNoData)
	case 1:
	default:
		return nil, fmt.Errorf("prometheus range query `%s` returned %d series: %w", q, len(matrix), probes.ErrMultipleSeries)
	}
	series := matrix[0]
	if len(series.Values) == 0 {
		return nil, fmt.Errorf("prometheus range query `%s`: %w", q, probes.ErrNoData)
	}
	points := make([]probes.Point, len(series.Values))
	for i, v := range series.Values {
		points[i] = probes.Point{At: v.Timestamp.Time(), Value: float64(v.Value)}
	}
	return points, nil
}

func typeName(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
