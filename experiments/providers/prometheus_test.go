package providers_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// sampleTime has a fraction of a second, to check the client sends it whole.
var sampleTime = time.Unix(1700000000, 500_000_000).UTC()

const sampleTimeParam = "1700000000.5"

// promRequest is what the fake Prometheus received.
type promRequest struct {
	query, time, authorization string
}

// fakePrometheus is a real HTTP server speaking the Prometheus query API;
// answer writes the response to each instant query.
type fakePrometheus struct {
	*httptest.Server
	mu       sync.Mutex
	requests []promRequest
}

func newFakePrometheus(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, query string)) *fakePrometheus {
	t.Helper()
	fake := &fakePrometheus{}
	fake.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		// client_golang POSTs the form and falls back to GET; ParseForm reads both.
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		query := r.Form.Get("query")
		fake.mu.Lock()
		fake.requests = append(fake.requests, promRequest{query: query, time: r.Form.Get("time"), authorization: r.Header.Get("Authorization")})
		fake.mu.Unlock()
		answer(w, r, query)
	}))
	t.Cleanup(fake.Close)
	return fake
}

func (f *fakePrometheus) received() []promRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]promRequest(nil), f.requests...)
}

func (f *fakePrometheus) provider(t *testing.T, timeout time.Duration) *providers.Prometheus {
	t.Helper()
	api, err := providers.NewPrometheusClient(f.URL, nil)
	if err != nil {
		t.Fatalf("NewPrometheusClient: %v", err)
	}
	return providers.NewPrometheus(api, timeout)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}

// vectorJSON is an instant-vector answer with one series per value.
func vectorJSON(values ...string) string {
	series := make([]string, len(values))
	for i, v := range values {
		series[i] = fmt.Sprintf(`{"metric":{"job":"checkout","instance":"10.0.0.%d:8080"},"value":[1700000000.5,%q]}`, i+1, v)
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

func scalarJSON(v string) string {
	return fmt.Sprintf(`{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,%q]}}`, v)
}

const (
	matrixJSON  = `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"checkout"},"values":[[1700000000,"1"],[1700000001,"2"]]}]}}`
	stringJSON  = `{"status":"success","data":{"resultType":"string","result":[1700000000.5,"hello"]}}`
	warningJSON = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"0.97"]}]},"warnings":["PromQL info: metric might not be a counter"]}`
	badDataJSON = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:11: parse error: unexpected end of input"}`
)

func TestPrometheusQuery(t *testing.T) {
	const query = `sum(rate(istio_requests_total{response_code!~"5.."}[30s]))`
	tests := map[string]struct {
		status  int
		body    string
		want    float64
		wantNaN bool
		wantErr error  // errors.Is target, when not nil
		errHas  string // a part of the message, when not empty
	}{
		"vector with one sample, returns its value":    {body: vectorJSON("0.995"), want: 0.995},
		"scalar, returns its value":                    {body: scalarJSON("42"), want: 42},
		"NaN sample, returns NaN for Evaluate to fail": {body: vectorJSON("NaN"), wantNaN: true},
		"warnings, are not errors":                     {body: warningJSON, want: 0.97},
		"empty vector, reports no data":                {body: vectorJSON(), wantErr: probes.ErrNoData, errHas: query},
		"two series, reports multiple series":          {body: vectorJSON("1", "2"), wantErr: probes.ErrMultipleSeries, errHas: "2 series"},
		"matrix, explains a range vector has no value": {body: matrixJSON, errHas: "range vector"},
		// client_golang v1.25 no longer decodes string results at all, so
		// the answer is reported as one the client could not read.
		"string result, is an error":                   {body: stringJSON, errHas: "prometheus query `"},
		"error response, carries Prometheus's message": {status: http.StatusBadRequest, body: badDataJSON, errHas: "parse error"},
		"server failure, is an error":                  {status: http.StatusInternalServerError, body: "boom", errHas: "500"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
				status := tt.status
				if status == 0 {
					status = http.StatusOK
				}
				writeJSON(w, status, tt.body)
			})

			got, err := fake.provider(t, 5*time.Second).Query(t.Context(), query, sampleTime)

			wantErr := tt.wantErr != nil || tt.errHas != ""
			if (err != nil) != wantErr {
				t.Fatalf("Query() = %v, %v; want error: %v", got, err, wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Query() error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if tt.errHas != "" && !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Query() error = %q, want it to mention %q", err, tt.errHas)
			}
			switch {
			case wantErr:
			case tt.wantNaN:
				if !math.IsNaN(got) {
					t.Errorf("Query() = %v, want NaN", got)
				}
			case got != tt.want:
				t.Errorf("Query() = %v, want %v", got, tt.want)
			}

			requests := fake.received()
			if len(requests) != 1 {
				t.Fatalf("server received %d requests, want 1", len(requests))
			}
			if requests[0].query != query {
				t.Errorf("server received query %q, want %q", requests[0].query, query)
			}
			if requests[0].time != sampleTimeParam {
				t.Errorf("server received time %q, want %q (the sample's instant)", requests[0].time, sampleTimeParam)
			}
		})
	}
}

func TestPrometheusQueryTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fake := newFakePrometheus(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		writeJSON(w, http.StatusOK, vectorJSON("1"))
	})
	const timeout = 100 * time.Millisecond

	_, err := fake.provider(t, timeout).Query(t.Context(), "up", sampleTime)

	if err == nil {
		t.Fatal("Query() of a server slower than the timeout succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("Query() error = %q, want it to say the provider's timeout ran out", err)
	}
}

func TestPrometheusQueryHonoursCallerCancellation(t *testing.T) {
	fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		writeJSON(w, http.StatusOK, vectorJSON("1"))
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := fake.provider(t, 5*time.Second).Query(ctx, "up", sampleTime)

	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query() with a cancelled context = %v, want context.Canceled", err)
	}
	if strings.Contains(fmt.Sprint(err), "timed out") {
		t.Errorf("Query() error = %q blames the provider timeout for the caller's cancellation", err)
	}
}

func TestNewPrometheusClientAuth(t *testing.T) {
	tests := map[string]struct {
		credentials *providers.Credentials
		want        string
	}{
		"no credentials, sends no Authorization header": {},
		"bearer token, is sent as a bearer header": {
			credentials: &providers.Credentials{Type: chaosv1alpha1.AuthBearer, Token: "s3cret-token"},
			want:        "Bearer s3cret-token",
		},
		"basic credentials, are sent as basic auth": {
			credentials: &providers.Credentials{Type: chaosv1alpha1.AuthBasic, Username: "faultline", Password: "pa:ss"},
			want:        "Basic " + base64.StdEncoding.EncodeToString([]byte("faultline:pa:ss")),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
				writeJSON(w, http.StatusOK, scalarJSON("1"))
			})
			api, err := providers.NewPrometheusClient(fake.URL, tt.credentials)
			if err != nil {
				t.Fatalf("NewPrometheusClient: %v", err)
			}

			if _, err := providers.NewPrometheus(api, time.Second).Query(t.Context(), "vector(1)", sampleTime); err != nil {
				t.Fatalf("Query: %v", err)
			}

			requests := fake.received()
			if len(requests) != 1 {
				t.Fatalf("server received %d requests, want 1", len(requests))
			}
			if requests[0].authorization != tt.want {
				t.Errorf("Authorization header = %q, want %q", requests[0].authorization, tt.want)
			}
		})
	}
}

func TestNewPrometheusClientRejects(t *testing.T) {
	tests := map[string]struct {
		addr        string
		credentials *providers.Credentials
	}{
		"unknown auth type":      {addr: "http://prometheus:9090", credentials: &providers.Credentials{Type: "Digest"}},
		"address that is no URL": {addr: "http://prometheus:port"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := providers.NewPrometheusClient(tt.addr, tt.credentials); err == nil {
				t.Errorf("NewPrometheusClient(%q, %v) succeeded, want an error", tt.addr, tt.credentials)
			}
		})
	}
}

func TestCredentialsFromSecret(t *testing.T) {
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "prom-auth"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	bearer := chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBearer, SecretName: "prom-auth"}
	basic := chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBasic, SecretName: "prom-auth"}
	tests := map[string]struct {
		secret *corev1.Secret
		auth   chaosv1alpha1.PrometheusAuth
		want   *providers.Credentials
		errHas []string
	}{
		"bearer, reads the token key": {
			secret: secret(map[string]string{"token": "abc"}),
			auth:   bearer,
			want:   &providers.Credentials{Type: chaosv1alpha1.AuthBearer, Token: "abc"},
		},
		"bearer token saved with a newline, loses the newline": {
			secret: secret(map[string]string{"token": "abc\n"}),
			auth:   bearer,
			want:   &providers.Credentials{Type: chaosv1alpha1.AuthBearer, Token: "abc"},
		},
		"basic, reads username and password": {
			secret: secret(map[string]string{"username": "u", "password": "p w"}),
			auth:   basic,
			want:   &providers.Credentials{Type: chaosv1alpha1.AuthBasic, Username: "u", Password: "p w"},
		},
		"bearer without a token key, names the Secret and the key": {
			secret: secret(map[string]string{"username": "u"}),
			auth:   bearer,
			errHas: []string{"shop/prom-auth", `"token"`},
		},
		"bearer with an empty token, names the key": {
			secret: secret(map[string]string{"token": ""}),
			auth:   bearer,
			errHas: []string{"shop/prom-auth", `"token"`},
		},
		"basic without a password, names the Secret and the key": {
			secret: secret(map[string]string{"username": "u"}),
			auth:   basic,
			errHas: []string{"shop/prom-auth", `"password"`},
		},
		"basic without a username, names the Secret and the key": {
			secret: secret(map[string]string{"password": "p"}),
			auth:   basic,
			errHas: []string{"shop/prom-auth", `"username"`},
		},
		"unknown auth type, is an error": {
			secret: secret(map[string]string{"token": "abc"}),
			auth:   chaosv1alpha1.PrometheusAuth{Type: "Digest", SecretName: "prom-auth"},
			errHas: []string{"Digest"},
		},
		"no Secret, names the one expected": {
			auth:   bearer,
			errHas: []string{"prom-auth"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := providers.CredentialsFromSecret(tt.secret, tt.auth)
			if len(tt.errHas) > 0 {
				if err == nil {
					t.Fatalf("CredentialsFromSecret() = %v, want an error", got)
				}
				for _, part := range tt.errHas {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("CredentialsFromSecret() error = %q, want it to mention %s", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("CredentialsFromSecret(): %v", err)
			}
			if *got != *tt.want {
				t.Errorf("CredentialsFromSecret() = %#v, want %#v", *got, *tt.want)
			}
		})
	}
}

func TestCredentialsFormattingRedactsSecrets(t *testing.T) {
	credentials := []*providers.Credentials{
		{Type: chaosv1alpha1.AuthBearer, Token: "s3cret-token"},
		{Type: chaosv1alpha1.AuthBasic, Username: "faultline", Password: "s3cret-password"},
	}
	for _, c := range credentials {
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			for _, arg := range []any{c, *c} {
				if out := fmt.Sprintf(format, arg); strings.Contains(out, "s3cret") {
					t.Errorf("Sprintf(%q, %T) = %q, leaks a secret", format, arg, out)
				}
			}
		}
	}
}

// secretInBody stands for what a hostile or misconfigured provider might put
// in an answer: it must never reach an error that ends up in status.
const secretInBody = "eyJhbGciOiJSUzI1NiIsImtpZCI6InNlY3JldCJ9.SECRET-TOKEN"

func TestPrometheusErrorsAreBoundedAndNeverEchoTheBody(t *testing.T) {
	tests := map[string]struct {
		// answer serves the query; nil means a closed port.
		answer  func(w http.ResponseWriter, r *http.Request)
		timeout time.Duration
		want    string // the error contains this
	}{
		"an HTML page is not a Prometheus answer": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = fmt.Fprint(w, "<html><body>"+secretInBody+"</body></html>")
			},
			want: "the answer was not a Prometheus API response",
		},
		"a 500 with a secret in the body says only the status": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "internal error, token="+secretInBody, http.StatusInternalServerError)
			},
			want: "HTTP 500 from the provider",
		},
		"a 502 from a proxy says only the status": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "<h1>Bad Gateway</h1>"+secretInBody, http.StatusBadGateway)
			},
			want: "HTTP 502 from the provider",
		},
		"a 403 points at the credentials": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, secretInBody, http.StatusForbidden)
			},
			want: "HTTP 403 from the provider; check the credentials",
		},
		"a 400 that is not JSON says only the status": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, secretInBody, http.StatusBadRequest)
			},
			want: "HTTP 400 from the provider",
		},
		"a JSON success with a body of the wrong shape is not a Prometheus answer": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":"`+secretInBody+`"}}`)
			},
			want: "the answer was not a Prometheus API response",
		},
		"a slow answer is a timeout naming the deadline": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				writeJSON(w, http.StatusOK, vectorJSON("1"))
			},
			timeout: 200 * time.Millisecond,
			want:    "no answer within 200ms (provider.prometheus.timeout)",
		},
		"a closed port is a refused connection naming the address": {
			want: "connection refused by 127.0.0.1:",
		},
		"Prometheus' own message about a bad query is kept, cut and without control characters": {
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected \u001b[31m`+strings.Repeat("x", 2000)+`"}`)
			},
			want: "Prometheus refused the query (bad_data): parse error: unexpected [31mxxx",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var addr string
			if tt.answer == nil {
				closed := httptest.NewServer(http.NotFoundHandler())
				addr = closed.URL
				closed.Close()
			} else {
				fake := newFakePrometheus(t, func(w http.ResponseWriter, r *http.Request, _ string) { tt.answer(w, r) })
				addr = fake.URL
			}
			api, err := providers.NewPrometheusClient(addr, nil)
			if err != nil {
				t.Fatalf("NewPrometheusClient: %v", err)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			start := time.Now()
			_, err = providers.NewPrometheus(api, timeout).Query(t.Context(), "up", sampleTime)
			if err == nil {
				t.Fatal("Query() succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Query() error = %q, want it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "SECRET") || strings.Contains(msg, "eyJ") || strings.Contains(msg, "<h") {
				t.Errorf("Query() error = %q echoes the provider's body", msg)
			}
			if len(msg) > 256 {
				t.Errorf("Query() error is %d bytes, want at most 256: %q", len(msg), msg)
			}
			if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("Query() error = %q holds control characters", msg)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("Query() took %s, want it bounded by its timeout", elapsed)
			}
		})
	}
}

func TestNewPrometheusZeroTimeoutMeansTheDefault(t *testing.T) {
	release := make(chan struct{})
	fake := newFakePrometheus(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		writeJSON(w, http.StatusOK, vectorJSON("1"))
	})
	defer close(release)
	api, err := providers.NewPrometheusClient(fake.URL, nil)
	if err != nil {
		t.Fatalf("NewPrometheusClient: %v", err)
	}
	_, err = providers.NewPrometheus(api, 0).Query(t.Context(), "up", sampleTime)
	if err == nil || !strings.Contains(err.Error(), "no answer within "+providers.DefaultPrometheusTimeout.String()) {
		t.Errorf("Query() with timeout 0 against a silent server = %v, want the default deadline of %s", err, providers.DefaultPrometheusTimeout)
	}
}
