package alertreceiver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// secretVolume lays out a token the way the kubelet writes a Secret
// volume: dir/token links to ..data/token, and ..data to a timestamped
// directory that a rotation replaces by swapping the ..data link.
type secretVolume struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretVolume(t *testing.T, token string) *secretVolume {
	t.Helper()
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.rotate(token)
	if err := os.Symlink(filepath.Join("..data", "token"), v.path()); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *secretVolume) path() string { return filepath.Join(v.dir, "token") }

// rotate writes token into a new timestamped directory and swaps ..data
// to it in one rename, as the kubelet's atomic writer does.
func (v *secretVolume) rotate(token string) {
	v.t.Helper()
	v.n++
	ts := filepath.Join(v.dir, fmt.Sprintf("..2026_12_01_10_00_%02d.%d", v.n, 1000+v.n))
	if err := os.Mkdir(ts, 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "token"), []byte(token), 0o600); err != nil {
		v.t.Fatal(err)
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
}

func TestTokenFileFollowsASecretRotation(t *testing.T) {
	ctx := t.Context()
	v := newSecretVolume(t, "first-token\n")
	f, err := OpenTokenFile(v.path())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Token(ctx); got != "first-token" {
		t.Fatalf("Token = %q, want first-token (trimmed, as Alertmanager trims credentials_file)", got)
	}
	// A token of the same length: only the file's identity tells it changed.
	v.rotate("other-token")
	if got := f.Token(ctx); got != "other-token" {
		t.Errorf("after the Secret rotated: Token = %q, want other-token", got)
	}
}

func TestTokenFileFollowsAnEditInPlace(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "token")
	write := func(token string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-token")
	f, err := OpenTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write("a-longer-second-token")
	if got := f.Token(ctx); got != "a-longer-second-token" {
		t.Errorf("after an edit: Token = %q, want a-longer-second-token", got)
	}
}

func TestTokenFileKeepsItsTokenWhenTheFileBreaks(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := f.Token(ctx); got != "first-token" {
		t.Errorf("with the file emptied: Token = %q, want the last token, first-token, never an empty one", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := f.Token(ctx); got != "first-token" {
		t.Errorf("with the file gone: Token = %q, want the last token, first-token", got)
	}
	if err := os.WriteFile(path, []byte("second-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := f.Token(ctx); got != "second-token" {
		t.Errorf("with the file back: Token = %q, want second-token", got)
	}
}

func TestOpenTokenFileRefusesWhatHoldsNoToken(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTokenFile(empty); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("OpenTokenFile(empty file) = %v, want an error saying it is empty", err)
	}
	if _, err := OpenTokenFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--alert-receiver-token-file") {
		t.Errorf("OpenTokenFile(missing file) = %v, want an error naming --alert-receiver-token-file", err)
	}
}

// TestReceiverAsksForTheRotatedToken serves the receiver with a token file
// and rotates it: the old token is refused from then on, the new accepted.
func TestReceiverAsksForTheRotatedToken(t *testing.T) {
	v := newSecretVolume(t, "first-token")
	tokens, err := OpenTokenFile(v.path())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "unused")
	f.handler.Token = tokens
	body := payload(t, "4", firing("CheckoutAvailabilityLow", t0))
	if code, msg := f.post(t, Path, "Bearer first-token", body); code != http.StatusOK {
		t.Fatalf("with the first token: %d %q, want 200", code, msg)
	}
	v.rotate("other-token")
	f.clock.Step(time.Second)
	if code, msg := f.post(t, Path, "Bearer first-token", body); code != http.StatusUnauthorized {
		t.Errorf("with the first token after the rotation: %d %q, want 401", code, msg)
	}
	f.clock.Step(time.Second)
	if code, msg := f.post(t, Path, "Bearer other-token", body); code != http.StatusOK {
		t.Errorf("with the new token: %d %q, want 200", code, msg)
	}
	// Recorded: the first request (t0) and the one with the new token
	// (t0+2s), not the refused one (t0+1s).
	if n, ok := f.store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(time.Millisecond)); !ok || !n.ReceivedAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("after t0, recorded %v (%v), want the notification at t0+2s", n.ReceivedAt, ok)
	}
}

func TestReceiverWithoutATokenRefusesEveryone(t *testing.T) {
	store := NewStore(4)
	f := &fixture{store: store, srv: httptest.NewServer(NewHandler(store, clocktesting.NewFakeClock(t0)))}
	t.Cleanup(f.srv.Close)
	code, msg := f.post(t, Path, "Bearer anything", payload(t, "4", firing("CheckoutAvailabilityLow", t0)))
	if code != http.StatusUnauthorized || !strings.Contains(msg, "--alert-receiver-token-file") {
		t.Errorf("a Handler given no token and not Insecure: %d %q, want 401 naming --alert-receiver-token-file", code, msg)
	}
	if _, ok := store.First([]string{"CheckoutAvailabilityLow"}, t0.Add(-time.Hour)); ok {
		t.Error("a Handler given no token recorded a notification")
	}
}
