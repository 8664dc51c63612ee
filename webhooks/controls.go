package webhooks

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Control, bidirectional-formatting and other invisible format characters
// are refused in every string of a spec: a NUL cuts a name short in C-based
// tools, an ESC sequence rewrites the terminal of whoever runs `kubectl
// get`, a bidi override shows a reviewer a different query or address than
// the one Faultline runs ("Trojan Source"), and a zero-width character
// makes two different names look the same.

// forbiddenRune names r when it may not appear in a spec string, "" when it
// may. layout allows the tab and newline that multi-line PromQL (a YAML
// block scalar) legitimately holds.
func forbiddenRune(r rune, layout bool) string {
	switch {
	case r == '\t' || r == '\n':
		if layout {
			return ""
		}
		if r == '\t' {
			return "TAB (U+0009), a control character"
		}
		return "a line break LF (U+000A)"
	case r == 0:
		return "NUL (U+0000), a control character"
	case r == 0x1b:
		return "ESC (U+001B), a control character"
	case r == '\r':
		return "a carriage return CR (U+000D)"
	case r < 0x20:
		return fmt.Sprintf("U+%04X, a control character", r)
	case r == 0x7f:
		return "DEL (U+007F), a control character"
	case r >= 0x80 && r <= 0x9f:
		return fmt.Sprintf("U+%04X, a control character", r)
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return fmt.Sprintf("U+%04X, a bidirectional-text control that makes text display differently from what it is", r)
	case r == 0x2028 || r == 0x2029:
		return fmt.Sprintf("U+%04X, a line or paragraph separator", r)
	case invisibleNames[r] != "":
		return fmt.Sprintf("%s (U+%04X), an invisible character", invisibleNames[r], r)
	case unicode.Is(unicode.Cf, r):
		return fmt.Sprintf("U+%04X, an invisible formatting character (Unicode category Cf)", r)
	}
	return ""
}

// invisibleNames names the invisible format characters most often pasted
// by accident or on purpose. Like every other format character (Unicode
// category Cf) they are refused: a zero-width space makes two names look
// equal that are not, so a reviewer approves one alert name, guard or
// address and Faultline uses another, and a soft hyphen or word joiner
// hides inside a query.
var invisibleNames = map[rune]string{
	0x00ad: "SOFT HYPHEN",
	0x200b: "ZERO WIDTH SPACE",
	0x200c: "ZERO WIDTH NON-JOINER",
	0x200d: "ZERO WIDTH JOINER",
	0x2060: "WORD JOINER",
	0xfeff: "ZERO WIDTH NO-BREAK SPACE (byte order mark)",
}

// controlProblem returns the problem with value at path, or "".
func controlProblem(path, value string, layout bool) string {
	for i, r := range value {
		if what := forbiddenRune(r, layout); what != "" {
			return fmt.Sprintf("%s %s contains %s at byte %d: remove it; Faultline accepts only plain printable text here", path, quote(value), what, i)
		}
	}
	return ""
}

// isQueryPath reports whether a field path holds PromQL, where tabs and
// newlines are layout.
func isQueryPath(path string) bool {
	return strings.HasSuffix(path, ".prometheus.query")
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// childPath is path extended by a map key, in the notation of field paths
// in API server messages: .name for identifiers, [key] otherwise.
func childPath(path, key string) string {
	if identifier.MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// walkControls appends a problem for every string (map keys included) in v,
// a value decoded from JSON, that holds a forbidden character. Walking the
// decoded JSON rather than the Go types means a field added to the API
// later is covered without anyone remembering to add it here.
func walkControls(p *problems, path string, v any) {
	switch t := v.(type) {
	case string:
		if msg := controlProblem(path, t, isQueryPath(path)); msg != "" {
			p.addf("%s", msg)
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if msg := controlProblem(path+" key", k, false); msg != "" {
				p.addf("%s", msg)
			}
			walkControls(p, childPath(path, k), t[k])
		}
	case []any:
		for i, e := range t {
			walkControls(p, fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}

// specControls checks every string of a raw object's spec.
func specControls(p *problems, raw []byte) {
	spec, err := rawSpec(raw)
	if err != nil || len(spec) == 0 {
		return
	}
	v, err := decodeGeneric(spec)
	if err != nil {
		return
	}
	walkControls(p, "spec", v)
}

// annotationControls checks the values of the annotations Faultline reads
// that changed in this request (all of them on create). Unchanged values are
// left alone so that an object stored before this check can still be
// updated.
func annotationControls(p *problems, oldAnn, newAnn map[string]string, keys ...string) {
	for _, k := range keys {
		v, ok := newAnn[k]
		if !ok {
			continue
		}
		if old, had := oldAnn[k]; had && old == v {
			continue
		}
		if msg := controlProblem(fmt.Sprintf("metadata.annotations[%s]", k), v, false); msg != "" {
			p.addf("%s", msg)
		}
	}
}
