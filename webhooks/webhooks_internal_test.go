package webhooks

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestWalkControls(t *testing.T) {
	tests := map[string]struct {
		spec string
		want string // substring of the first problem; "" for none
	}{
		"plain text passes":                         {spec: `{"a":"checkout","b":["x"],"c":{"k":"v"}}`},
		"a newline inside a query is layout":        {spec: `{"probes":[{"prometheus":{"query":"sum(\n\tup)"}}]}`},
		"a newline in a name is refused":            {spec: `{"name":"a\nb"}`, want: `spec.name "a\nb" contains a line break`},
		"a carriage return in a query is refused":   {spec: `{"prometheus":{"query":"up\r"}}`, want: "spec.prometheus.query"},
		"NUL deep in a list is named by its path":   {spec: `{"a":[{"b":"x\u0000"}]}`, want: "spec.a[0].b"},
		"ESC in a map key is refused":               {spec: `{"labels":{"a\u001b":"v"}}`, want: "spec.labels key"},
		"a key that is not an identifier is quoted": {spec: `{"m":{"app/x":"\u007f"}}`, want: `spec.m["app/x"]`},
		"C1 controls are refused":                   {spec: `{"a":"\u0085"}`, want: "U+0085"},
		"bidi overrides are refused":                {spec: `{"a":"\u202e"}`, want: "U+202E"},
		"bidi isolates are refused":                 {spec: `{"a":"\u2069"}`, want: "U+2069"},
		"direction marks are refused":               {spec: `{"a":"\u200f"}`, want: "U+200F"},
		"a zero-width space is refused":             {spec: `{"alerts":["Checkout\u200bDown"]}`, want: `spec.alerts[0] "Checkout\u200bDown" contains ZERO WIDTH SPACE (U+200B), an invisible character at byte 8`},
		"a zero-width non-joiner is refused":        {spec: `{"a":"x\u200c"}`, want: "ZERO WIDTH NON-JOINER (U+200C)"},
		"a zero-width joiner is refused":            {spec: `{"a":"x\u200d"}`, want: "ZERO WIDTH JOINER (U+200D)"},
		"a word joiner is refused":                  {spec: `{"a":"x\u2060"}`, want: "WORD JOINER (U+2060)"},
		"a byte order mark is refused":              {spec: `{"a":"\ufeffx"}`, want: "U+FEFF"},
		"a soft hyphen is refused":                  {spec: `{"name":"error\u00adbudget"}`, want: "SOFT HYPHEN (U+00AD)"},
		"an invisible tag character is refused":     {spec: `{"a":"x\udb40\udc41"}`, want: "U+E0041, an invisible formatting character (Unicode category Cf)"},
		"an invisible times sign is refused":        {spec: `{"a":"2\u2062x"}`, want: "U+2062, an invisible formatting character"},
		"a format character in a query is refused":  {spec: `{"prometheus":{"query":"up\u200b"}}`, want: "spec.prometheus.query"},
		"a format character in a map key":           {spec: `{"headers":{"x-\u200bchaos":"true"}}`, want: "spec.headers key"},
		"a line separator is refused":               {spec: `{"a":"x\u2028y"}`, want: "U+2028, a line or paragraph separator"},
		"other non-ASCII letters pass":              {spec: `{"a":"Grüße 東京"}`},
		"combining marks are not format characters": {spec: `{"a":"e\u0301"}`},
		"numbers and booleans are not strings":      {spec: `{"a":1,"b":true,"c":null}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p problems
			specControls(&p, []byte(`{"spec":`+tc.spec+`}`))
			switch {
			case tc.want == "" && len(p) > 0:
				t.Fatalf("refused: %v", p)
			case tc.want != "" && (len(p) == 0 || !strings.Contains(p[0], tc.want)):
				t.Fatalf("problems %q, want the first to contain %q", p, tc.want)
			}
		})
	}
}

func TestAnnotationPatch(t *testing.T) {
	const key = chaosv1alpha1.RequestedByAnnotation
	tests := map[string]struct {
		current map[string]string
		want    map[string]*string
		ops     string
	}{
		"no annotations member: one add of the whole map": {
			current: nil, want: map[string]*string{key: ptr.To("x")},
			ops: `[{"op":"add","path":"/metadata/annotations","value":{"chaos.faultline.dev/requested-by":"x"}}]`,
		},
		"a different value is replaced": {
			current: map[string]string{key: "y"}, want: map[string]*string{key: ptr.To("x")},
			ops: `[{"op":"add","path":"/metadata/annotations/chaos.faultline.dev~1requested-by","value":"x"}]`,
		},
		"the same value needs no patch": {
			current: map[string]string{key: "x"}, want: map[string]*string{key: ptr.To("x")},
			ops: `null`,
		},
		"an unwanted value is removed": {
			current: map[string]string{key: "x", "other": "1"}, want: map[string]*string{key: nil},
			ops: `[{"op":"remove","path":"/metadata/annotations/chaos.faultline.dev~1requested-by"}]`,
		},
		"nothing to remove and no annotations needs no patch": {
			current: nil, want: map[string]*string{key: nil},
			ops: `null`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(annotationPatch(tc.current, tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.ops {
				t.Fatalf("patch %s, want %s", got, tc.ops)
			}
		})
	}
}

func TestSpecChanged(t *testing.T) {
	tests := map[string]struct {
		old, new string
		want     bool
	}{
		"a default written out is no change":          {old: `{"spec":{"schedule":"@daily"}}`, new: `{"spec":{"schedule":"@daily","suspend":false}}`},
		"a duration written differently is no change": {old: `{"spec":{"duration":"60s"}}`, new: `{"spec":{"duration":"1m"}}`},
		"a changed field is a change":                 {old: `{"spec":{"suspend":false}}`, new: `{"spec":{"suspend":true}}`, want: true},
		"undecodable but equal specs are no change":   {old: `{"spec":{"duration":"1y"}}`, new: `{"spec":{"duration":"1y"}}`},
		"undecodable and different is a change":       {old: `{"spec":{"duration":"1y"}}`, new: `{"spec":{"duration":"2y"}}`, want: true},
		"metadata does not count":                     {old: `{"metadata":{"labels":{"a":"b"}},"spec":{}}`, new: `{"spec":{}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := specChanged[chaosv1alpha1.ExperimentSpec]([]byte(tc.old), []byte(tc.new)); got != tc.want {
				t.Fatalf("specChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicySpecChangedIgnoresPaused(t *testing.T) {
	old := `{"spec":{"allowedProviderAddresses":["ftp://x"],"paused":false}}`
	if policySpecChanged([]byte(old), []byte(`{"spec":{"allowedProviderAddresses":["ftp://x"],"paused":true}}`)) {
		t.Fatal("flipping paused on a policy that no longer validates counts as a spec change; the kill switch would be refused")
	}
	if !policySpecChanged([]byte(old), []byte(`{"spec":{"allowedProviderAddresses":["http://x"],"paused":true}}`)) {
		t.Fatal("changing the allow-list did not count as a spec change")
	}
}

func TestValidateQuery(t *testing.T) {
	tests := map[string]struct {
		query string
		want  string
	}{
		"a ratio passes":                 {query: `sum(rate(a[1m])) / sum(rate(b[1m]))`},
		"a scalar passes":                {query: `scalar(sum(up))`},
		"a multi-line query passes":      {query: "sum(\n  rate(a[1m])\n)"},
		"a parse error names its place":  {query: `sum(rate(a[1m])`, want: "1:16: parse error"},
		"a range vector is not a number": {query: `a[1m]`, want: "returns a range vector"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p problems
			validateQuery(&p, "q", tc.query)
			switch {
			case tc.want == "" && len(p) > 0:
				t.Fatalf("refused: %v", p)
			case tc.want != "" && (len(p) == 0 || !strings.Contains(p[0], tc.want)):
				t.Fatalf("problems %q, want one containing %q", p, tc.want)
			}
		})
	}
}

func TestValidateAlertName(t *testing.T) {
	tests := map[string]struct {
		name string
		want string // substring of the one problem; "" for none
	}{
		"CamelCase passes":                   {name: "CheckoutAvailabilityLow"},
		"snake case passes":                  {name: "checkout_availability_low"},
		"a recording-rule style name passes": {name: "slo:checkout:burn_rate_high"},
		"dashes and dots pass":               {name: "checkout-5xx.high"},
		"a leading underscore passes":        {name: "_Internal"},
		"empty":                              {name: "", want: "is empty: write the alert's name"},
		"a list in one string":               {name: "A,B", want: "is not one alert name"},
		"a selector":                         {name: `ALERTS{alertname="A"}`, want: "is a selector"},
		"a Markdown link":                    {name: "[Checkout](https://attacker.example)", want: `"[Checkout](https://attacker.example)" is not an alert name Faultline accepts: write the name of the rule's alert: field using only letters, digits, '_', ':', '-' and '.'`},
		"an HTML tag":                        {name: "<b>CheckoutDown</b>", want: "is not an alert name Faultline accepts"},
		"an image":                           {name: "![x](http://a/p.png)", want: "is not an alert name Faultline accepts"},
		"a leading digit":                    {name: "5xxHigh", want: "is not an alert name Faultline accepts"},
		"a non-ASCII lookalike":              {name: "CheckоutDown", want: "is not an alert name Faultline accepts"},
		"a zero-width space":                 {name: "Checkout\u200bDown", want: "is not an alert name Faultline accepts"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p problems
			validateAlertName(&p, "spec.detection.alerts[0]", tc.name)
			switch {
			case tc.want == "" && len(p) > 0:
				t.Fatalf("refused: %v", p)
			case tc.want != "" && len(p) != 1:
				t.Fatalf("problems %q, want one containing %q", p, tc.want)
			case tc.want != "" && !strings.Contains(p[0], tc.want):
				t.Fatalf("problem %q, want it to contain %q", p[0], tc.want)
			}
		})
	}
}
