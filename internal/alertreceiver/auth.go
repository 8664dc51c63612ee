package alertreceiver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
)

// maxTokenBytes bounds a token file's read: a token is a few dozen bytes,
// and a path pointed at a large file by mistake must not be read whole at
// every rotation.
const maxTokenBytes = 4096

// TokenSource gives the bearer token a notification must carry.
type TokenSource interface {
	// Token is the token in force now; never empty.
	Token(ctx context.Context) string
}

// StaticToken is a token that never changes.
type StaticToken string

// Token implements TokenSource.
func (t StaticToken) Token(context.Context) string { return string(t) }

// TokenFile is a bearer token read from a file, and read again whenever the
// file changes. The kubelet rotates a Secret volume's files by swapping the
// volume's ..data symlink, and Alertmanager reads its credentials_file at
// every delivery: a receiver keeping the token it started with would refuse
// every notification after a rotation until it restarted.
//
// A re-read that fails (the file gone, empty, unreadable) keeps the last
// token and is logged once: the kubelet likewise keeps a deleted Secret's
// last files, and refusing every caller would not be safer than still
// asking for the token Alertmanager was given.
type TokenFile struct {
	path string

	mu sync.Mutex
	// token is the token last read; never empty.
	token string
	// read is the file the token was read from, to tell a change by its
	// inode, size and modification time without reading it again.
	read os.FileInfo
	// lastErr is the last re-read failure, so each is logged once.
	lastErr string
}

// OpenTokenFile reads the token in path, trimmed of surrounding space as
// Alertmanager trims its credentials_file; a missing or empty file is an
// error, since the receiver would otherwise accept no one or anyone.
func OpenTokenFile(path string) (*TokenFile, error) {
	token, info, err := readToken(path)
	if err != nil {
		return nil, err
	}
	return &TokenFile{path: path, token: token, read: info}, nil
}

// Path is the file the token is read from.
func (f *TokenFile) Path() string { return f.path }

// Token implements TokenSource: the file's token, read again when the file
// changed since it was last read.
func (f *TokenFile) Token(ctx context.Context) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if info, err := os.Stat(f.path); err == nil && unchanged(f.read, info) {
		return f.token
	}
	token, info, err := readToken(f.path)
	if err != nil {
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			ctrl.LoggerFrom(ctx).Error(err, "cannot read the alert receiver's token file again; still asking for the token read before", "file", f.path)
		}
		return f.token
	}
	f.lastErr = ""
	if token != f.token {
		ctrl.LoggerFrom(ctx).Info("read a new token for the alert receiver: Alertmanager must send it from now on", "file", f.path)
	}
	f.token, f.read = token, info
	return f.token
}

func unchanged(was, now os.FileInfo) bool {
	return os.SameFile(was, now) && was.Size() == now.Size() && was.ModTime().Equal(now.ModTime())
}

// readToken reads path's token and the file's information from the file
// opened, so the two always describe the same file, even mid-rotation.
func readToken(path string) (string, os.FileInfo, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading --alert-receiver-token-file: %w", err)
	}
	defer func() { _ = file.Close() }()
	info, err := file.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("reading --alert-receiver-token-file: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(file, maxTokenBytes))
	if err != nil {
		return "", nil, fmt.Errorf("reading --alert-receiver-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", nil, fmt.Errorf("--alert-receiver-token-file %s is empty: write the token Alertmanager sends", path)
	}
	return token, info, nil
}

// refusal says why the Authorization header does not carry token, or is
// empty when it does. It never quotes the header's credentials: a refusal is
// sent to whoever called, and logged.
func refusal(header, token string) string {
	const how = "Alertmanager must send the token of --alert-receiver-token-file as a bearer token (webhook_config http_config.authorization.credentials_file)"
	if header == "" {
		return "no Authorization header: " + how
	}
	scheme, credentials, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if known := knownScheme(scheme); known != "" {
			return fmt.Sprintf("the Authorization header's scheme is %q, not Bearer (basic_auth is not accepted): %s", known, how)
		}
		return "the Authorization header is not a bearer token: " + how
	}
	credentials = strings.TrimSpace(credentials)
	if credentials == "" {
		return "the bearer token is empty (is credentials_file empty?): " + how
	}
	if !equalSecret(credentials, token) {
		return "the bearer token is not the receiver's: " + how + "; after a rotation Alertmanager and the receiver each re-read their file, and a delivery refused meanwhile is retried"
	}
	return ""
}

// equalSecret compares in constant time, length included, so neither the
// token nor its length can be guessed from how long a refusal takes:
// subtle.ConstantTimeCompare alone returns at once on unequal lengths.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// knownSchemes are the registered HTTP authentication schemes (IANA) and
// a few common others: only these are named in a refusal, since what a
// misconfigured caller put first in the header may be the credential itself.
var knownSchemes = []string{"Basic", "Digest", "HOBA", "Mutual", "Negotiate", "NTLM", "OAuth", "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid", "Token", "ApiKey", "AWS4-HMAC-SHA256"}

// knownScheme is s spelt as registered when it is a known scheme, else
// empty.
func knownScheme(s string) string {
	for _, k := range knownSchemes {
		if strings.EqualFold(s, k) {
			return k
		}
	}
	return ""
}
