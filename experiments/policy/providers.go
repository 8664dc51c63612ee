package policy

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ProviderAllowed returns nil when the ChaosPolicy p lets runs call the
// metrics provider at address, and otherwise an error that says what to
// write instead. A nil policy allows nothing: an address chosen by whoever
// writes an Experiment would otherwise receive the operator's requests and
// the credentials of the Secret it names. The admission webhook asks it
// when an Experiment is written, and the run controller again when a run
// starts, so both read the allow-list by this one definition.
//
// Both the address and every allowed address are read by
// NormalizeAddress first: an address is allowed when its scheme, host and
// port equal those of an allowed address and its normalised path is the
// allowed one's or continues it after a slash. Normalising both sides
// before the prefix check is what stops "/prometheus/team-a/../team-b",
// "/prometheus/team-a/%2e%2e/team-b" or "//prometheus/team-a/../../admin"
// from passing as below "/prometheus/team-a" while the server is asked
// for another path. Userinfo, queries and fragments are never allowed:
// they would smuggle credentials or change what is called.
func ProviderAllowed(p *chaosv1alpha1.ChaosPolicy, address string) error {
	want, err := NormalizeAddress(address)
	if err != nil {
		return fmt.Errorf("provider address %q: %w", address, err)
	}
	var allowed []string
	if p != nil {
		allowed = p.Spec.AllowedProviderAddresses
	}
	for _, a := range allowed {
		if ValidateAllowedAddress(a) != nil {
			continue // reported on the ChaosPolicy itself, and allows nothing
		}
		entry, err := NormalizeAddress(a)
		if err != nil {
			continue
		}
		if entry.Contains(want) {
			return nil
		}
	}
	readAs := ""
	if pathResolved(address, want) {
		// Say what was compared, or "/prometheus/team-a/%2e%2e/team-b"
		// looks as if it were below an allowed "/prometheus/team-a".
		readAs = fmt.Sprintf(" (it reads as %s once dot segments and encodings are resolved)", want)
	}
	if len(allowed) == 0 {
		return fmt.Errorf("provider address %q is not allowed%s: the ChaosPolicy %q lists no allowed provider addresses; ask a cluster administrator to add it to spec.allowedProviderAddresses",
			address, readAs, chaosv1alpha1.DefaultPolicyName)
	}
	return fmt.Errorf("provider address %q is not allowed by the ChaosPolicy %q%s; use one of: %s",
		address, chaosv1alpha1.DefaultPolicyName, readAs, strings.Join(allowed, ", "))
}

// pathResolved reports whether normalising changed the path of address
// beyond a trailing slash: a dot segment, an encoding or a doubled slash.
func pathResolved(address string, normalised Address) bool {
	u, err := url.Parse(address)
	if err != nil {
		return false
	}
	raw := u.RawPath
	if raw == "" {
		raw = u.EscapedPath()
	}
	return strings.TrimSuffix(raw, "/") != normalised.Path
}

// ValidateAddress returns nil when a is a provider address Faultline can
// call and an allow-list can vouch for (http or https, a host, no userinfo,
// query or fragment, a path NormalizeAddress can read one way only), and
// otherwise an error that says what to write. The admission webhooks use it
// for Experiment addresses, and through ValidateAllowedAddress for
// ChaosPolicy allow-list entries, so both are read by the same rules as
// ProviderAllowed.
func ValidateAddress(a string) error {
	if strings.ContainsFunc(a, unicode.IsSpace) {
		// url.Parse keeps spaces in a path, and a trailing space copied from
		// a document would make the address miss every allow-list entry.
		return fmt.Errorf("provider address %q: must not contain spaces; write it as http://host:port, such as http://prometheus.monitoring:9090", a)
	}
	if _, err := NormalizeAddress(a); err != nil {
		return fmt.Errorf("provider address %q: %w", a, err)
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
		return nil, fmt.Errorf("must not carry a user or password: remove the user:password@ part, and put credentials in a Secret named by provider.prometheus.auth")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("must not have a query or fragment (?... or #...): write the server's base address, such as http://prometheus.monitoring:9090 or https://metrics.example.com/prometheus")
	}
	return u, nil
}
