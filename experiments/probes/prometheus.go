package probes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Prometheus is a MetricsProvider that runs instant queries against a
// Prometheus HTTP API. It takes client_golang's promv1.API so tests and
// callers can point it at any server, a real test server included.
type Prometheus struct {
	api     promv1.API
	timeout time.Duration
}

// NewPrometheus returns a provider that queries api, giving each query at
// most timeout. A timeout of zero or less leaves the deadline to ctx.
func NewPrometheus(api promv1.API, timeout time.Duration) *Prometheus {
	return &Prometheus{api: api, timeout: timeout}
}

var _ MetricsProvider = (*Prometheus)(nil)

// Query evaluates query at the instant at and returns its one value.
//
// The query must yield exactly one sample: an instant vector of one element
// or a scalar. An empty vector wraps ErrNoData and a vector of several wraps
// ErrMultipleSeries, so the caller can tell an absent series from a query
// that needs aggregating. Warnings are logged at V(1), not returned: a
// partial-data warning from one shard should not make a probe unmeasurable.
func (p *Prometheus) Query(ctx context.Context, query string, at time.Time) (float64, error) {
	queryCtx := ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		queryCtx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}

	value, warnings, err := p.api.Query(queryCtx, query, at)
	if len(warnings) > 0 {
		logr.FromContextOrDiscard(ctx).V(1).Info("Prometheus query returned warnings", "query", query, "warnings", []string(warnings))
	}
	if err != nil {
		// Say it was our own deadline, not the caller's: "context deadline
		// exceeded" alone does not tell the user which timeout to raise.
		// queryCtx is asked, not err: client_golang does not promise to wrap
		// the context's error.
		if errors.Is(queryCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, fmt.Errorf("prometheus query `%s` timed out after %s (provider.prometheus.timeout): %w", query, p.timeout, err)
		}
		return 0, fmt.Errorf("prometheus query `%s`: %w", query, err)
	}
	return singleValue(query, value)
}

// singleValue extracts the one number a probe judges from a query result.
func singleValue(query string, value model.Value) (float64, error) {
	switch v := value.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("prometheus query `%s`: %w", query, ErrNoData)
		case 1:
			if v[0].Histogram != nil {
				return 0, fmt.Errorf("prometheus query `%s` returned a native histogram, not a number; use histogram_quantile, histogram_count or histogram_sum", query)
			}
			return float64(v[0].Value), nil
		default:
			return 0, fmt.Errorf("prometheus query `%s` returned %d series: %w", query, len(v), ErrMultipleSeries)
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
