package policy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Address is a provider address in the form the allow-list compares: the
// scheme and host in lower case, the port empty when it is the scheme's
// default, and the path normalised by NormalizePath. Two addresses that
// reach the same server and path have the same Address, however they were
// written.
type Address struct {
	// Scheme is http or https.
	Scheme string
	// Host is the host name or IP address, in lower case, without the
	// brackets of an IPv6 address.
	Host string
	// Port is the port in decimal, "" when it is the scheme's default (80
	// for http, 443 for https).
	Port string
	// Path is "" or starts with "/"; it never ends with "/".
	Path string
}

// String writes a as a URL.
func (a Address) String() string {
	host := a.Host
	switch {
	case a.Port != "":
		host = net.JoinHostPort(a.Host, a.Port)
	case strings.Contains(a.Host, ":"):
		host = "[" + a.Host + "]"
	}
	return a.Scheme + "://" + host + a.Path
}

// Contains reports whether b is a itself or below it: the same scheme, host
// and port, and a path that is a's or continues it after a slash.
func (a Address) Contains(b Address) bool {
	if a.Scheme != b.Scheme || a.Host != b.Host || a.Port != b.Port {
		return false
	}
	return a.Path == "" || b.Path == a.Path || strings.HasPrefix(b.Path, a.Path+"/")
}

// addressHint is an example of a provider address, for messages.
const addressHint = "http://prometheus.monitoring:9090"

// NormalizeAddress reads a provider address as the server it reaches sees
// it. The allow-list is compared in this form, on both sides, so that an
// address cannot climb out of an allowed path prefix with dot segments
// ("/prometheus/team-a/../team-b"), percent-encoded dots ("%2e%2e", "%2E.",
// ".%2e") or doubled slashes, all of which the Prometheus client and the
// servers behind it resolve before they route the request.
//
// The address must be http or https with a host, and carry no userinfo,
// query or fragment. Its scheme and host are compared case-insensitively,
// and an explicit default port (:80, :443) is no port. Its path is
// normalised by NormalizePath; an address whose path could still be read
// two ways (an encoded slash, a backslash, a dot segment hidden behind a
// ';' parameter) is refused rather than guessed at.
func NormalizeAddress(address string) (Address, error) {
	u, err := parseAddress(address)
	if err != nil {
		return Address{}, err
	}
	a := Address{Scheme: u.Scheme, Host: strings.ToLower(u.Hostname())}
	if strings.Contains(a.Host, "%") {
		// Only "%25" decodes to a percent sign in a host (an IPv6 zone);
		// no Prometheus server is named so, and the name would read
		// differently after another decoding.
		return Address{}, fmt.Errorf("host %q holds a percent sign: write the host name plainly, such as %s", a.Host, addressHint)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Address{}, fmt.Errorf("port %s is not between 1 and 65535: write the port the server listens on, such as %s", p, addressHint)
		}
		if defaultPort := (u.Scheme == "http" && n == 80) || (u.Scheme == "https" && n == 443); !defaultPort {
			a.Port = strconv.Itoa(n)
		}
	}
	// RawPath holds the path as written whenever it differs from the
	// default encoding of the decoded path; the decoded path has lost
	// which slashes and dots were encoded, which is what matters here.
	raw := u.RawPath
	if raw == "" {
		raw = u.EscapedPath()
	}
	if a.Path, err = NormalizePath(raw); err != nil {
		return Address{}, err
	}
	return a, nil
}

// NormalizePath normalises the path of a URL as written (percent-encoded),
// the way RFC 3986 section 6.2.2 compares URLs and servers resolve them:
//
//  1. percent-encoded unreserved characters (letters, digits, '-', '.',
//     '_', '~') are decoded, so "%2e" is a dot; other percent-encodings
//     are written with upper-case hex digits;
//  2. runs of slashes are one slash, as the Prometheus client, Go's HTTP
//     server and most proxies read them;
//  3. dot segments are removed (RFC 3986 section 5.2.4);
//  4. a trailing slash is dropped, so "/prometheus/" and "/prometheus" are
//     one path.
//
// A path is refused, with what to write instead, when servers could still
// read it differently from this form: an encoded slash ("%2f") or
// backslash ("%5c"), a literal backslash, an encoded percent sign ("%25",
// decoded again by some proxies), or a segment that is a dot segment once
// its ';' parameters are dropped ("..;x").
func NormalizePath(raw string) (string, error) {
	decoded, err := decodeUnreserved(raw)
	if err != nil {
		return "", err
	}
	p := RemoveDotSegments(collapseSlashes(decoded))
	if seg, ok := dotSegment(p); ok {
		return "", fmt.Errorf("path segment %q would be read as %q by servers that drop ';' parameters: write the path without it, such as %s/prometheus", seg, strings.SplitN(seg, ";", 2)[0], addressHint)
	}
	return strings.TrimSuffix(p, "/"), nil
}

// errPathHint ends the refusals of decodeUnreserved.
const errPathHint = "write the path with plain '/' between its segments and nothing encoded that a server could decode again, such as " + addressHint + "/prometheus"

// decodeUnreserved decodes the percent-encoded unreserved characters of a
// path (RFC 3986 section 2.3) and upper-cases the hex digits of the other
// encodings; it refuses the encodings and characters that servers and
// proxies read in more than one way.
func decodeUnreserved(raw string) (string, error) {
	if strings.Contains(raw, `\`) {
		return "", errors.New("path holds a backslash, which some servers read as '/': " + errPathHint)
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
			return "", fmt.Errorf("path holds %q, which is not a percent-encoding: %s", raw[i:min(i+3, len(raw))], errPathHint)
		}
		v := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		switch {
		case v == '/':
			return "", errors.New("path holds an encoded slash (%2F), which some servers decode into a separator and others do not: " + errPathHint)
		case v == '\\':
			return "", errors.New("path holds an encoded backslash (%5C), which some servers read as '/': " + errPathHint)
		case v == '%':
			return "", errors.New("path holds an encoded percent sign (%25), which proxies that decode twice read as another encoding, such as an encoded dot: " + errPathHint)
		case isUnreserved(v):
			b.WriteByte(v)
		default:
			b.WriteString("%" + strings.ToUpper(raw[i+1:i+3]))
		}
		i += 2
	}
	return b.String(), nil
}

// collapseSlashes writes every run of slashes as one.
func collapseSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// RemoveDotSegments removes the "." and ".." segments of a path as RFC 3986
// section 5.2.4 does: "." goes, ".." goes with the segment before it, and
// ".." above the root stays at the root ("/a/../../b" is "/b").
func RemoveDotSegments(in string) string {
	var out []string // segments of the output, each with its leading "/" if any
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			// Move the first segment, with its leading "/" if any, up to
			// (not including) the next "/".
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := strings.IndexByte(in[start:], '/')
			if end < 0 {
				end = len(in)
			} else {
				end += start
			}
			out = append(out, in[:end])
			in = in[end:]
		}
	}
	return strings.Join(out, "")
}

// dotSegment returns the first segment of p that is "." or ".." once
// decoded and cut at its first ';' (a path parameter, which Tomcat, Jetty
// and some proxies drop before resolving dot segments).
func dotSegment(p string) (string, bool) {
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		plain, err := url.PathUnescape(seg)
		if err != nil {
			plain = seg
		}
		if name, _, _ := strings.Cut(plain, ";"); name == "." || name == ".." {
			return seg, true
		}
	}
	return "", false
}

// ValidateAllowedAddress returns nil when a may be an entry of a
// ChaosPolicy's allow-list, and otherwise an error that says what to write
// instead. An entry is held to more than an Experiment's address: it is
// written once by an administrator and vouches for every address below it,
// so what it means must be plain. It may not hold dot segments, even ones
// that normalise away, nor a wildcard host, which Faultline would compare
// as the literal text "*".
func ValidateAllowedAddress(a string) error {
	if err := ValidateAddress(a); err != nil {
		return err
	}
	u, err := url.Parse(a)
	if err != nil {
		return fmt.Errorf("provider address %q: not a URL", a)
	}
	if strings.Contains(u.Hostname(), "*") {
		return fmt.Errorf("provider address %q has a wildcard host: Faultline compares hosts exactly and does not expand *; list each Prometheus server, such as %s", a, addressHint)
	}
	raw := u.RawPath
	if raw == "" {
		raw = u.EscapedPath()
	}
	decoded, err := decodeUnreserved(raw)
	if err != nil {
		return fmt.Errorf("provider address %q: %w", a, err)
	}
	if seg, ok := dotSegment(decoded); ok {
		n, _ := NormalizeAddress(a)
		return fmt.Errorf("provider address %q holds the dot segment %q: an allow-list entry must name its path plainly; write %s", a, seg, n)
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved reports whether c is an unreserved character of RFC 3986
// section 2.3, whose percent-encoding means the same as the character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
