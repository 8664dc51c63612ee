package webhooks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestWalkControls(t *testing.T) {
	tests := map[string]struct {
		spec string
		path string // the path of the first problem; "" for none
		want string // substring of the first problem
	}{
		"plain text passes":                         {spec: `{"a":"checkout","b":["x"],"c":{"k":"v"}}`},
		"a newline inside a query is layout":        {spec: `{"probes":[{"prometheus":{"query":"sum(\n\tup)"}}]}`},
		"a newline in a name is refused":            {spec: `{"name":"a\nb"}`, path: "spec.name", want: `spec.name: Invalid value: "a\nb": contains a line break`},
		"a carriage return in a query is refused":   {spec: `{"prometheus":{"query":"up\r"}}`, path: "spec.prometheus.query", want: "carriage return"},
		"NUL deep in a list is named by its path":   {spec: `{"a":[{"b":"x\u0000"}]}`, path: "spec.a[0].b", want: "NUL (U+0000)"},
		"ESC in a map key is named on the map":      {spec: `{"labels":{"a\u001b":"v"}}`, path: "spec.labels", want: `spec.labels: Invalid value: "a\x1b": key contains ESC (U+001B)`},
		"a key that is not an identifier is a key":  {spec: `{"m":{"app/x":"\u007f"}}`, path: "spec.m[app/x]", want: "DEL (U+007F)"},
		"C1 controls are refused":                   {spec: `{"a":"\u0085"}`, path: "spec.a", want: "U+0085"},
		"bidi overrides are refused":                {spec: `{"a":"\u202e"}`, path: "spec.a", want: "U+202E"},
		"bidi isolates are refused":                 {spec: `{"a":"\u2069"}`, path: "spec.a", want: "U+2069"},
		"direction marks are refused":               {spec: `{"a":"\u200f"}`, path: "spec.a", want: "U+200F"},
		"a zero-width space is refused":             {spec: `{"alerts":["Checkout\u200bDown"]}`, path: "spec.alerts[0]", want: `spec.alerts[0]: Invalid value: "Checkout\u200bDown": contains ZERO WIDTH SPACE (U+200B), an invisible character at byte 8`},
		"a zero-width non-joiner is refused":        {spec: `{"a":"x\u200c"}`, path: "spec.a", want: "ZERO WIDTH NON-JOINER (U+200C)"},
		"a zero-width joiner is refused":            {spec: `{"a":"x\u200d"}`, path: "spec.a", want: "ZERO WIDTH JOINER (U+200D)"},
		"a word joiner is refused":                  {spec: `{"a":"x\u2060"}`, path: "spec.a", want: "WORD JOINER (U+2060)"},
		"a byte order mark is refused":              {spec: `{"a":"\ufeffx"}`, path: "spec.a", want: "U+FEFF"},
		"a soft hyphen is refused":                  {spec: `{"name":"error\u00adbudget"}`, path: "spec.name", want: "SOFT HYPHEN (U+00AD)"},
		"an invisible tag character is refused":     {spec: `{"a":"x\udb40\udc41"}`, path: "spec.a", want: "U+E0041, an invisible formatting character (Unicode category Cf)"},
		"an invisible times sign is refused":        {spec: `{"a":"2\u2062x"}`, path: "spec.a", want: "U+2062, an invisible formatting character"},
		"a format character in a query is refused":  {spec: `{"prometheus":{"query":"up\u200b"}}`, path: "spec.prometheus.query", want: "ZERO WIDTH SPACE"},
		"a format character in a map key":           {spec: `{"headers":{"x-\u200bchaos":"true"}}`, path: "spec.headers", want: "key contains ZERO WIDTH SPACE"},
		"a line separator is refused":               {spec: `{"a":"x\u2028y"}`, path: "spec.a", want: "U+2028, a line or paragraph separator"},
		"other non-ASCII letters pass":              {spec: `{"a":"Grüße 東京"}`},
		"combining marks are not format characters": {spec: `{"a":"e\u0301"}`},
		"numbers and booleans are not strings":      {spec: `{"a":1,"b":true,"c":null}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := specControls([]byte(`{"spec":` + tc.spec + `}`))
			switch {
			case tc.path == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.path == "":
			case len(errs) == 0:
				t.Fatalf("no problem; want one on %s containing %q", tc.path, tc.want)
			case errs[0].Field != tc.path || errs[0].Type != field.ErrorTypeInvalid:
				t.Fatalf("first problem %q is a %s on %s; want Invalid on %s", errs[0].Error(), errs[0].Type, errs[0].Field, tc.path)
			case !strings.Contains(errs[0].Error(), tc.want):
				t.Fatalf("first problem %q, want it to contain %q", errs[0].Error(), tc.want)
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
		typ   field.ErrorType // "" for none
		want  string
	}{
		"a ratio passes":                 {query: `sum(rate(a[1m])) / sum(rate(b[1m]))`},
		"a scalar passes":                {query: `scalar(sum(up))`},
		"a multi-line query passes":      {query: "sum(\n  rate(a[1m])\n)"},
		"an empty query is required":     {query: " ", typ: field.ErrorTypeRequired, want: "q: Required value: write a PromQL expression"},
		"a parse error names its place":  {query: `sum(rate(a[1m])`, typ: field.ErrorTypeInvalid, want: `q: Invalid value: "sum(rate(a[1m])": does not parse: 1:16: parse error`},
		"a range vector is not a number": {query: `a[1m]`, typ: field.ErrorTypeInvalid, want: "returns a range vector"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := validateQuery(field.NewPath("q"), tc.query)
			switch {
			case tc.typ == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.typ == "":
			case len(errs) != 1 || errs[0].Type != tc.typ || errs[0].Field != "q":
				t.Fatalf("problems %q, want one %s on q containing %q", errs, tc.typ, tc.want)
			case !strings.Contains(errs[0].Error(), tc.want):
				t.Fatalf("problem %q, want it to contain %q", errs[0].Error(), tc.want)
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
		"empty":                              {name: "", want: "spec.detection.alerts[0]: Required value: write the alert's name"},
		"a list in one string":               {name: "A,B", want: `spec.detection.alerts[0]: Invalid value: "A,B": is not one alert name`},
		"a selector":                         {name: `ALERTS{alertname="A"}`, want: "is a selector"},
		"a Markdown link":                    {name: "[Checkout](https://attacker.example)", want: `"[Checkout](https://attacker.example)": is not an alert name Faultline accepts: write the name of the rule's alert: field using only letters, digits, '_', ':', '-' and '.'`},
		"an HTML tag":                        {name: "<b>CheckoutDown</b>", want: "is not an alert name Faultline accepts"},
		"an image":                           {name: "![x](http://a/p.png)", want: "is not an alert name Faultline accepts"},
		"a leading digit":                    {name: "5xxHigh", want: "is not an alert name Faultline accepts"},
		"a non-ASCII lookalike":              {name: "CheckоutDown", want: "is not an alert name Faultline accepts"},
		"a zero-width space":                 {name: "Checkout\u200bDown", want: "is not an alert name Faultline accepts"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := validateAlertName(field.NewPath("spec", "detection", "alerts").Index(0), tc.name)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.want != "" && len(errs) != 1:
				t.Fatalf("problems %q, want one containing %q", errs, tc.want)
			case tc.want != "" && !strings.Contains(errs[0].Error(), tc.want):
				t.Fatalf("problem %q, want it to contain %q", errs[0].Error(), tc.want)
			}
		})
	}
}

func TestRefusalsCarryTheirStatus(t *testing.T) {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Name:     "checkout",
		Kind:     metav1.GroupVersionKind{Group: "chaos.faultline.dev", Version: "v1alpha1", Kind: "Experiment"},
		Resource: metav1.GroupVersionResource{Group: "chaos.faultline.dev", Version: "v1alpha1", Resource: "experiments"},
	}}
	many := field.ErrorList{}
	for i := range 11 {
		many = append(many, field.Invalid(field.NewPath("spec", "target", "names").Index(i), strings.Repeat("x", 300), "is not a valid object name"))
	}
	tests := map[string]struct {
		resp       admission.Response
		code       int32
		reason     metav1.StatusReason
		message    string   // substring of the status message
		causes     []string // the field of each cause
		lastDetail string   // substring of the last cause's message
	}{
		"field problems are Invalid, each a cause on its field": {
			resp: invalid(req, field.ErrorList{
				field.Invalid(field.NewPath("spec", "schedule"), "0 14 * * TUES", "write five fields"),
				field.Forbidden(annotationsPath.Key("chaos.faultline.dev/requested-by"), "remove it"),
			}),
			code: 422, reason: metav1.StatusReasonInvalid,
			message: `Experiment.chaos.faultline.dev "checkout" is invalid: [spec.schedule: Invalid value: "0 14 * * TUES": write five fields, metadata.annotations[chaos.faultline.dev/requested-by]: Forbidden: remove it]`,
			causes:  []string{"spec.schedule", "metadata.annotations[chaos.faultline.dev/requested-by]"},
		},
		"more than maxProblems are cut, the last saying how many more, values short": {
			resp: invalid(req, many),
			code: 422, reason: metav1.StatusReasonInvalid,
			message:    `Invalid value: "` + strings.Repeat("x", maxValueBytes) + `...(300 bytes)"`,
			causes:     []string{"spec.target.names[0]", "spec.target.names[1]", "spec.target.names[2]", "spec.target.names[3]", "spec.target.names[4]", "spec.target.names[5]", "spec.target.names[6]", "spec.target.names[7]"},
			lastDetail: "is not a valid object name; and 3 more problems",
		},
		"a refusal over rights is Forbidden on the object": {
			resp: forbidden(req, `user "alice" may not delete pods in namespace b`),
			code: 403, reason: metav1.StatusReasonForbidden,
			message: `experiments.chaos.faultline.dev "checkout" is forbidden: user "alice" may not delete pods in namespace b`,
		},
		"a check that could not be made asks to try again": {
			resp: unavailable("could not check the rights of user \"alice\" in time: try again"),
			code: 503, reason: metav1.StatusReasonServiceUnavailable,
			message: "try again",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tc.resp.Result
			if tc.resp.Allowed || st == nil {
				t.Fatalf("allowed (%+v), want a refusal", tc.resp)
			}
			if st.Code != tc.code || st.Reason != tc.reason || !strings.Contains(st.Message, tc.message) {
				t.Fatalf("status %d %s %q, want %d %s containing %q", st.Code, st.Reason, st.Message, tc.code, tc.reason, tc.message)
			}
			var fields []string
			if st.Details != nil {
				for _, c := range st.Details.Causes {
					fields = append(fields, c.Field)
				}
			}
			if strings.Join(fields, " ") != strings.Join(tc.causes, " ") {
				t.Fatalf("causes on %q, want %q", fields, tc.causes)
			}
			if tc.lastDetail != "" && !strings.Contains(st.Details.Causes[len(st.Details.Causes)-1].Message, tc.lastDetail) {
				t.Fatalf("last cause %q, want it to contain %q", st.Details.Causes[len(st.Details.Causes)-1].Message, tc.lastDetail)
			}
		})
	}
	if many[10].BadValue != strings.Repeat("x", 300) || many[7].Detail != "is not a valid object name" {
		t.Errorf("the refusal changed the caller's errors")
	}
}

func TestAddressDetailDropsTheQuotedAddress(t *testing.T) {
	const a = "http://attacker.example:80"
	tests := map[string]struct {
		err  error
		want string
	}{
		"after a colon":        {err: fmt.Errorf("provider address %q: must not contain spaces", a), want: "must not contain spaces"},
		"in a sentence":        {err: fmt.Errorf("provider address %q is not allowed by the ChaosPolicy", a), want: "is not allowed by the ChaosPolicy"},
		"another form is kept": {err: fmt.Errorf("needs a host"), want: "needs a host"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := addressDetail(a, tc.err); got != tc.want {
				t.Fatalf("addressDetail = %q, want %q", got, tc.want)
			}
		})
	}
}
