package policy

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ProviderAllowed returns nil when the ChaosPolicy p lets runs call the
// metrics provider at address, and otherwise an error that says what to
// write instead. A nil policy allows nothing: an address chosen by whoever
// writes an Experiment would otherwise receive the operator's requests and
// the credentials of the Secret it names.
//
// An address is allowed when its scheme, host and port equal those of an
// allowed address and its path starts with the allowed path, on a segment
// boundary. Userinfo, queries and fragments are never allowed: they would
// smuggle credentials or change what is called.
func ProviderAllowed(p *chaosv1alpha1.ChaosPolicy, address string) error {
	u, err := parseAddress(address)
	if err != nil {
		return fmt.Errorf("provider address %q: %w", address, err)
	}
	var allowed []string
	if p != nil {
		allowed = p.Spec.AllowedProviderAddresses
	}
	for _, a := range allowed {
		au, err := parseAddress(a)
		if err != nil {
			continue // reported on the ChaosPolicy itself
		}
		if sameServer(u, au) && underPath(u.Path, au.Path) {
			return nil
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("provider address %q is not allowed: the ChaosPolicy %q lists no allowed provider addresses; ask a cluster administrator to add it to spec.allowedProviderAddresses",
			address, chaosv1alpha1.DefaultPolicyName)
	}
	return fmt.Errorf("provider address %q is not allowed by the ChaosPolicy %q; use one of: %s",
		address, chaosv1alpha1.DefaultPolicyName, strings.Join(allowed, ", "))
}

// ValidateAddress returns nil when a is a provider address Faultline can
// call and an allow-list can vouch for (http or https, a host, no userinfo,
// query or fragment), and otherwise an error that says what to write. The
// admission webhooks use it for ChaosPolicy allow-list entries and for
// Experiment addresses, so both are read by the same rules as ProviderAllowed.
func ValidateAddress(a string) error {
	if strings.ContainsFunc(a, unicode.IsSpace) {
		// url.Parse keeps spaces in a path, and a trailing space copied from
		// a document would make the address miss every allow-list entry.
		return fmt.Errorf("provider address %q: must not contain spaces; write it as http://host:port, such as http://prometheus.monitoring:9090", a)
	}
	u, err := parseAddress(a)
	if err != nil {
		return fmt.Errorf("provider address %q: %w", a, err)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("provider address %q: port %s is not between 1 and 65535", a, p)
		}
	}
	return nil
}

// parseAddress parses an http(s) provider address and refuses the parts an
// allow-list cannot vouch for.
func parseAddress(address string) (*url.URL, error) {
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("not a URL: write it as http://host:port or https://host:port/path")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https, such as http://prometheus.monitoring:9090")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("needs a host, such as http://prometheus.monitoring:9090")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not carry a user or password; put credentials in a Secret and use provider.prometheus.auth")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("must not have a query or fragment")
	}
	return u, nil
}

func sameServer(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// underPath reports whether path is allowed path itself or below it.
func underPath(path, allowed string) bool {
	allowed = strings.TrimSuffix(allowed, "/")
	path = strings.TrimSuffix(path, "/")
	if allowed == "" {
		return true
	}
	return path == allowed || strings.HasPrefix(path, allowed+"/")
}
