package policy

import (
	"net/url"
	"path"
	"strings"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestRemoveDotSegments(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		// RFC 3986 section 5.2.4's own walk-throughs.
		"5.2.4 first example":  {in: "/a/b/c/./../../g", want: "/a/g"},
		"5.2.4 second example": {in: "mid/content=5/../6", want: "mid/6"},
		// RFC 3986 section 5.4: the paths of the examples resolved against
		// the base "http://a/b/c/d;p?q", merged (5.2.3) before dot
		// segments are removed.
		"5.4.1 g":                       {in: "/b/c/g", want: "/b/c/g"},
		"5.4.1 ./g":                     {in: "/b/c/./g", want: "/b/c/g"},
		"5.4.1 g/":                      {in: "/b/c/g/", want: "/b/c/g/"},
		"5.4.1 /g":                      {in: "/g", want: "/g"},
		"5.4.1 .":                       {in: "/b/c/.", want: "/b/c/"},
		"5.4.1 ./":                      {in: "/b/c/./", want: "/b/c/"},
		"5.4.1 ..":                      {in: "/b/c/..", want: "/b/"},
		"5.4.1 ../":                     {in: "/b/c/../", want: "/b/"},
		"5.4.1 ../g":                    {in: "/b/c/../g", want: "/b/g"},
		"5.4.1 ../..":                   {in: "/b/c/../..", want: "/"},
		"5.4.1 ../../":                  {in: "/b/c/../../", want: "/"},
		"5.4.1 ../../g":                 {in: "/b/c/../../g", want: "/g"},
		"5.4.2 ../../../g":              {in: "/b/c/../../../g", want: "/g"},
		"5.4.2 ../../../../g":           {in: "/b/c/../../../../g", want: "/g"},
		"5.4.2 /./g":                    {in: "/./g", want: "/g"},
		"5.4.2 /../g":                   {in: "/../g", want: "/g"},
		"5.4.2 g.":                      {in: "/b/c/g.", want: "/b/c/g."},
		"5.4.2 .g":                      {in: "/b/c/.g", want: "/b/c/.g"},
		"5.4.2 g..":                     {in: "/b/c/g..", want: "/b/c/g.."},
		"5.4.2 ..g":                     {in: "/b/c/..g", want: "/b/c/..g"},
		"5.4.2 ./../g":                  {in: "/b/c/./../g", want: "/b/g"},
		"5.4.2 ./g/.":                   {in: "/b/c/./g/.", want: "/b/c/g/"},
		"5.4.2 g/./h":                   {in: "/b/c/g/./h", want: "/b/c/g/h"},
		"5.4.2 g/../h":                  {in: "/b/c/g/../h", want: "/b/c/h"},
		"5.4.2 g;x=1/./y":               {in: "/b/c/g;x=1/./y", want: "/b/c/g;x=1/y"},
		"5.4.2 g;x=1/../y":              {in: "/b/c/g;x=1/../y", want: "/b/c/y"},
		"an empty path":                 {in: "", want: ""},
		"the root":                      {in: "/", want: "/"},
		"a lone dot":                    {in: ".", want: ""},
		"a lone dot-dot":                {in: "..", want: ""},
		"an empty segment is a segment": {in: "/a//../b", want: "/a/b"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RemoveDotSegments(tc.in); got != tc.want {
				t.Fatalf("RemoveDotSegments(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeAddress(t *testing.T) {
	tests := map[string]struct {
		address string
		want    string // the normalised address; "" when refused
		refused string // substring of the refusal
	}{
		"a plain address is itself":            {address: "http://prometheus.monitoring:9090", want: "http://prometheus.monitoring:9090"},
		"scheme and host are lower-cased":      {address: "HTTP://Prometheus.Monitoring:9090/Prom", want: "http://prometheus.monitoring:9090/Prom"},
		"the default http port is no port":     {address: "http://prom:80/x", want: "http://prom/x"},
		"the default https port is no port":    {address: "https://prom:443", want: "https://prom"},
		"port 443 over http is kept":           {address: "http://prom:443", want: "http://prom:443"},
		"leading zeros of a port are dropped":  {address: "http://prom:09090", want: "http://prom:9090"},
		"an empty port is no port":             {address: "http://prom:/x", want: "http://prom/x"},
		"an IPv6 host keeps its brackets":      {address: "http://[::1]:9090/p", want: "http://[::1]:9090/p"},
		"a trailing slash is dropped":          {address: "http://prom:9090/prometheus/", want: "http://prom:9090/prometheus"},
		"the root path is no path":             {address: "http://prom:9090/", want: "http://prom:9090"},
		"encoded unreserved are decoded":       {address: "http://prom/%70rom%2Dx%7e", want: "http://prom/prom-x~"},
		"other encodings get upper-case hex":   {address: "http://prom/a%3ab", want: "http://prom/a%3Ab"},
		"dot-dot climbs out":                   {address: "http://prom/prometheus/team-a/../team-b", want: "http://prom/prometheus/team-b"},
		"single dots go":                       {address: "http://prom/./prometheus/./team-a", want: "http://prom/prometheus/team-a"},
		"dot-dot above the root stays there":   {address: "http://prom/a/../../../admin", want: "http://prom/admin"},
		"encoded dot-dot %2e%2e":               {address: "http://prom/prometheus/team-a/%2e%2e/team-b", want: "http://prom/prometheus/team-b"},
		"encoded dot-dot %2E.":                 {address: "http://prom/prometheus/team-a/%2E./team-b", want: "http://prom/prometheus/team-b"},
		"encoded dot-dot .%2e":                 {address: "http://prom/prometheus/team-a/.%2e/team-b", want: "http://prom/prometheus/team-b"},
		"encoded dot-dot at the end":           {address: "http://prom/prometheus/team-a/%2E%2E", want: "http://prom/prometheus"},
		"double slashes are one":               {address: "http://prom//prometheus///team-a", want: "http://prom/prometheus/team-a"},
		"double slashes before dot-dot":        {address: "http://prom/prometheus/team-a//../../admin", want: "http://prom/admin"},
		"a backslash is refused":               {address: `http://prom/prometheus/team-a\..\team-b`, refused: "backslash"},
		"an encoded backslash is refused":      {address: "http://prom/prometheus/team-a%5c..%5cteam-b", refused: "encoded backslash (%5C)"},
		"an encoded slash is refused":          {address: "http://prom/prometheus/team-a/..%2fteam-b", refused: "encoded slash (%2F)"},
		"an upper-case encoded slash too":      {address: "http://prom/prometheus%2Fteam-b", refused: "encoded slash (%2F)"},
		"a double-encoded dot is refused":      {address: "http://prom/prometheus/team-a/%252e%252e/team-b", refused: "encoded percent sign (%25)"},
		"a dot-dot with a parameter":           {address: "http://prom/prometheus/team-a/..;/team-b", refused: `path segment "..;"`},
		"an encoded dot-dot with a parameter":  {address: "http://prom/prometheus/team-a/%2e%2e;x/team-b", refused: `path segment "..;x"`},
		"an encoded parameter after dot-dot":   {address: "http://prom/prometheus/team-a/..%3b/team-b", refused: `path segment "..%3B"`},
		"a dot-dot inside a segment is a name": {address: "http://prom/prometheus/team..a", want: "http://prom/prometheus/team..a"},
		"userinfo is refused":                  {address: "http://u:p@prom:9090", refused: "must not carry a user or password"},
		"a query is refused":                   {address: "http://prom:9090/?x=1", refused: "must not have a query or fragment"},
		"a fragment is refused":                {address: "http://prom:9090/#x", refused: "must not have a query or fragment"},
		"another scheme is refused":            {address: "ftp://prom", refused: "scheme must be http or https"},
		"no host is refused":                   {address: "http:///prometheus", refused: "needs a host"},
		"a port out of range is refused":       {address: "http://prom:70000", refused: "port 70000 is not between 1 and 65535"},
		"a percent sign in the host":           {address: "http://prom%25x:9090", refused: `host "prom%x" holds a percent sign: write the host name plainly`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := NormalizeAddress(tc.address)
			if tc.refused != "" {
				if err == nil {
					t.Fatalf("NormalizeAddress(%q) = %s, want a refusal containing %q", tc.address, got, tc.refused)
				}
				if !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("refusal %q does not contain %q", err, tc.refused)
				}
				if !strings.Contains(err.Error(), "write") && !strings.Contains(err.Error(), "such as") && !strings.Contains(err.Error(), "put ") {
					t.Fatalf("refusal %q does not say what to write instead", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeAddress(%q): %v", tc.address, err)
			}
			if got.String() != tc.want {
				t.Fatalf("NormalizeAddress(%q) = %s, want %s", tc.address, got, tc.want)
			}
			// Normalising is idempotent: the normalised form reads as itself.
			again, err := NormalizeAddress(got.String())
			if err != nil || again != got {
				t.Fatalf("NormalizeAddress(%s) = %s, %v; want itself", got, again, err)
			}
		})
	}
}

func TestProviderAllowed(t *testing.T) {
	policyOf := func(allowed ...string) *chaosv1alpha1.ChaosPolicy {
		return &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: allowed}}
	}
	teamA := policyOf("http://prom.monitoring:9090/prometheus/team-a")
	tests := map[string]struct {
		policy  *chaosv1alpha1.ChaosPolicy
		address string
		refused string // substring of the refusal; "" when allowed
	}{
		"the allowed address itself":             {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a"},
		"a path below the allowed one":           {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/api"},
		"with a trailing slash":                  {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/"},
		"host in another case":                   {policy: teamA, address: "http://PROM.Monitoring:9090/prometheus/team-a"},
		"a dot segment that stays inside":        {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/x/../api"},
		"a default port written out":             {policy: policyOf("https://prom.example.com/prometheus"), address: "https://prom.example.com:443/prometheus"},
		"a default port in the entry":            {policy: policyOf("https://prom.example.com:443/prometheus"), address: "https://prom.example.com/prometheus"},
		"an entry with an encoded unreserved":    {policy: policyOf("http://prom.monitoring:9090/prometheus/%74eam-a"), address: "http://prom.monitoring:9090/prometheus/team-a"},
		"an entry with doubled slashes":          {policy: policyOf("http://prom.monitoring:9090//prometheus//team-a/"), address: "http://prom.monitoring:9090/prometheus/team-a"},
		"a sibling that shares a prefix":         {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-ab", refused: "is not allowed"},
		"dot-dot into a sibling":                 {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/../team-b", refused: "(it reads as http://prom.monitoring:9090/prometheus/team-b once dot segments and encodings are resolved)"},
		"%2e%2e into a sibling":                  {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/%2e%2e/team-b", refused: "(it reads as http://prom.monitoring:9090/prometheus/team-b once"},
		"%2E. into a sibling":                    {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/%2E./team-b", refused: "(it reads as http://prom.monitoring:9090/prometheus/team-b once"},
		".%2e into a sibling":                    {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/.%2e/team-b", refused: "(it reads as http://prom.monitoring:9090/prometheus/team-b once"},
		"dot-dot out of the prefix to the root":  {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/../../admin", refused: "(it reads as http://prom.monitoring:9090/admin once"},
		"a double slash then dot-dots":           {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a//../../admin", refused: "(it reads as http://prom.monitoring:9090/admin once"},
		"an encoded slash":                       {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/..%2f..%2fadmin", refused: "encoded slash (%2F)"},
		"a backslash":                            {policy: teamA, address: `http://prom.monitoring:9090/prometheus/team-a/..\..\admin`, refused: "backslash"},
		"a dot-dot behind a parameter":           {policy: teamA, address: "http://prom.monitoring:9090/prometheus/team-a/..;/team-b", refused: "drop ';' parameters"},
		"a default port alone reads as written":  {policy: teamA, address: "http://attacker.example:80", refused: `"http://attacker.example:80" is not allowed by the ChaosPolicy "default"; use one of: http://prom.monitoring:9090/prometheus/team-a`},
		"another port":                           {policy: teamA, address: "http://prom.monitoring:9091/prometheus/team-a", refused: "is not allowed"},
		"another scheme":                         {policy: teamA, address: "https://prom.monitoring:9090/prometheus/team-a", refused: "is not allowed"},
		"a lookalike host":                       {policy: teamA, address: "http://prom.monitoring.attacker.example:9090/prometheus/team-a", refused: "is not allowed"},
		"an entry climbing out allows nothing":   {policy: policyOf("http://prom.monitoring:9090/prometheus/team-a/.."), address: "http://prom.monitoring:9090/prometheus/team-b", refused: "is not allowed"},
		"a wildcard entry allows nothing":        {policy: policyOf("http://*.monitoring:9090"), address: "http://prom.monitoring:9090", refused: "is not allowed"},
		"a wildcard entry does not match itself": {policy: policyOf("http://*.monitoring:9090"), address: "http://*.monitoring:9090", refused: "is not allowed"},
		"no policy allows nothing":               {policy: nil, address: "http://prom.monitoring:9090", refused: "lists no allowed provider addresses"},
		"an empty allow-list allows nothing":     {policy: policyOf(), address: "http://prom.monitoring:9090", refused: "lists no allowed provider addresses"},
		"the whole server allows every path":     {policy: policyOf("http://prom.monitoring:9090"), address: "http://prom.monitoring:9090/a/../b"},
		"the whole server, a path written oddly": {policy: policyOf("http://prom.monitoring:9090/"), address: "http://prom.monitoring:9090//x/%2e/y"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ProviderAllowed(tc.policy, tc.address)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && err == nil:
				t.Fatalf("allowed; want a refusal containing %q", tc.refused)
			case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
				t.Fatalf("refusal %q does not contain %q", err, tc.refused)
			}
		})
	}
}

func TestValidateAllowedAddress(t *testing.T) {
	tests := map[string]struct {
		entry   string
		refused string // substring of the refusal; "" when valid
	}{
		"a server":                  {entry: "http://prometheus.monitoring:9090"},
		"a server and path":         {entry: "https://metrics.example.com/prometheus/team-a/"},
		"an IPv6 server":            {entry: "http://[fd00::1]:9090"},
		"a dot-dot segment":         {entry: "http://prom:9090/prometheus/team-a/..", refused: `holds the dot segment "..": an allow-list entry must name its path plainly; write http://prom:9090/prometheus`},
		"a dot segment":             {entry: "http://prom:9090/./prometheus", refused: `holds the dot segment "."`},
		"an encoded dot-dot %2e%2e": {entry: "http://prom:9090/prometheus/%2e%2e/admin", refused: "holds the dot segment"},
		"an encoded dot-dot %2E.":   {entry: "http://prom:9090/prometheus/%2E./admin", refused: "holds the dot segment"},
		"an encoded dot-dot .%2e":   {entry: "http://prom:9090/prometheus/.%2e/admin", refused: "holds the dot segment"},
		"an encoded slash":          {entry: "http://prom:9090/prometheus%2fteam-a", refused: "encoded slash"},
		"a wildcard host":           {entry: "http://*", refused: "wildcard host"},
		"a wildcard subdomain":      {entry: "https://*.example.com/prometheus", refused: "wildcard host"},
		"userinfo":                  {entry: "http://user:pass@prom:9090", refused: "must not carry a user or password"},
		"a user alone":              {entry: "http://user@prom:9090", refused: "must not carry a user or password"},
		"a query":                   {entry: "http://prom:9090/api?tenant=a", refused: "must not have a query or fragment"},
		"an empty query":            {entry: "http://prom:9090/api?", refused: "must not have a query or fragment"},
		"a fragment":                {entry: "http://prom:9090/api#x", refused: "must not have a query or fragment"},
		"a non-http scheme":         {entry: "file:///etc/passwd", refused: "scheme must be http or https"},
		"gopher":                    {entry: "gopher://prom:70", refused: "scheme must be http or https"},
		"no scheme":                 {entry: "prom:9090", refused: "scheme must be http or https"},
		"a space":                   {entry: "http://prom:9090 ", refused: "must not contain spaces"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ValidateAllowedAddress(tc.entry)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && err == nil:
				t.Fatalf("accepted; want a refusal containing %q", tc.refused)
			case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
				t.Fatalf("refusal %q does not contain %q", err, tc.refused)
			}
		})
	}
}

// FuzzNormalizeAddress checks the property the allow-list rests on: for
// every address NormalizeAddress accepts, its normalised path is the path
// the Prometheus client requests (client_golang joins the decoded path
// with the API endpoint through path.Join, which cleans it), so what the
// allow-list compares is what the server is asked for. Normalising is
// idempotent, and never panics.
//
//	go test ./experiments/policy -run '^$' -fuzz FuzzNormalizeAddress -fuzztime 1m
func FuzzNormalizeAddress(f *testing.F) {
	for _, seed := range []string{
		"http://prometheus.monitoring:9090",
		"http://prom/prometheus/team-a/../team-b",
		"http://prom/prometheus/team-a/%2e%2e/team-b",
		"http://prom/prometheus/team-a/%2E./team-b",
		"http://prom/prometheus/team-a/.%2e/team-b",
		"http://prom/prometheus/team-a//../../admin",
		"http://prom/a/..%2fb",
		`http://prom/a\..\b`,
		"http://prom/a/%252e%252e/b",
		"http://prom/a/..;/b",
		"HTTPS://Prom:443/%7Euser/./x/",
		"http://[::1]:9090/a/b/../c",
		"http://prom/%41%3a%3B/./..",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, address string) {
		n, err := NormalizeAddress(address)
		if err != nil {
			return
		}
		again, err := NormalizeAddress(n.String())
		if err != nil || again != n {
			t.Fatalf("NormalizeAddress(%q) = %s, but that reads as %s, %v", address, n, again, err)
		}
		u, err := url.Parse(address)
		if err != nil {
			t.Fatalf("NormalizeAddress accepted %q, which url.Parse refuses: %v", address, err)
		}
		requested := path.Join("/", u.Path)
		compared, err := url.PathUnescape(n.Path)
		if err != nil {
			t.Fatalf("normalised path %q does not decode: %v", n.Path, err)
		}
		if compared == "" {
			compared = "/"
		}
		if compared != requested {
			t.Fatalf("NormalizeAddress(%q) compares path %q, but the client requests %q", address, compared, requested)
		}
	})
}
