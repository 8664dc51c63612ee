package webhooks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation/field"
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

// controlError returns the problem with value at path, or nil. what is
// the thing checked, "" for the value itself or "key " for a map key
// (which Kubernetes names by the map's path, as it does label keys).
func controlError(path *field.Path, value string, layout bool, what string) *field.Error {
	for i, r := range value {
		if forbidden := forbiddenRune(r, layout); forbidden != "" {
			return field.Invalid(path, value, fmt.Sprintf("%scontains %s at byte %d: remove it; Faultline accepts only plain printable text here", what, forbidden, i))
		}
	}
	return nil
}

// isQueryPath reports whether a field path holds PromQL, where tabs and
// newlines are layout.
func isQueryPath(path *field.Path) bool {
	return strings.HasSuffix(path.String(), ".prometheus.query")
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// childPath is path extended by a map key, in the notation of field paths
// in API server messages: .name for identifiers, [key] otherwise. The key
// is one controlError found clean, so the path prints as it reads.
func childPath(path *field.Path, key string) *field.Path {
	if identifier.MatchString(key) {
		return path.Child(key)
	}
	return path.Key(key)
}

// walkControls returns a problem for every string (map keys included) in
// v, a value decoded from JSON, that holds a forbidden character. Walking
// the decoded JSON rather than the Go types means a field added to the API
// later is covered without anyone remembering to add it here.
func walkControls(path *field.Path, v any) field.ErrorList {
	var errs field.ErrorList
	switch t := v.(type) {
	case string:
		if e := controlError(path, t, isQueryPath(path), ""); e != nil {
			errs = append(errs, e)
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if e := controlError(path, k, false, "key "); e != nil {
				// The key would print as it is in the paths below it; the
				// refusal stands on the key alone.
				errs = append(errs, e)
				continue
			}
			errs = append(errs, walkControls(childPath(path, k), t[k])...)
		}
	case []any:
		for i, e := range t {
			errs = append(errs, walkControls(path.Index(i), e)...)
		}
	}
	return errs
}

// specControls checks every string of a raw object's spec.
func specControls(raw []byte) field.ErrorList {
	spec, err := rawSpec(raw)
	if err != nil || len(spec) == 0 {
		return nil
	}
	v, err := decodeGeneric(spec)
	if err != nil {
		return nil
	}
	return walkControls(field.NewPath("spec"), v)
}

// annotationControls checks the values of the annotations Faultline reads
// that changed in this request (all of them on create). Unchanged values are
// left alone so that an object stored before this check can still be
// updated.
func annotationControls(oldAnn, newAnn map[string]string, keys ...string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range keys {
		v, ok := newAnn[k]
		if !ok {
			continue
		}
		if old, had := oldAnn[k]; had && old == v {
			continue
		}
		if e := controlError(annotationsPath.Key(k), v, false, ""); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}
