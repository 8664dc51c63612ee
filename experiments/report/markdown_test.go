package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
)

// gfm renders Markdown as GitHub does before its sanitiser runs: GFM tables,
// strikethrough, autolinks and task lists, and raw HTML passed through, so a
// test sees any HTML or link the report lets through instead of goldmark's
// placeholder for omitted HTML.
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))

// markdownHTML renders a Markdown report as HTML.
func markdownHTML(t *testing.T, md []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := gfm.Convert(md, &out); err != nil {
		t.Fatalf("rendering the Markdown: %v", err)
	}
	return out.Bytes()
}

// fragmentElement is one element of rendered HTML, in document order.
type fragmentElement struct {
	name  string
	attrs map[string]string
	// text is the text directly and indirectly inside it, in order.
	text string
}

// parseFragment reads HTML as a browser would read its elements (void
// elements closed, entities resolved) and returns its elements in document
// order, comments and declarations among them, and its text in order, as a
// reader sees it.
func parseFragment(page []byte) ([]fragmentElement, string, error) {
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<fragment>"), bytes.NewReader(page), strings.NewReader("</fragment>")))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var elements []fragmentElement
	var open []int // indexes into elements of the elements still open
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := fragmentElement{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			elements = append(elements, e)
			open = append(open, len(elements)-1)
		case xml.EndElement:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case xml.CharData:
			text.Write(tok)
			for _, i := range open {
				elements[i].text += string(tok)
			}
		case xml.Comment:
			// Listed as elements, so markup that hides text or declares
			// entities shows where elements are compared.
			elements = append(elements, fragmentElement{name: "#comment", attrs: map[string]string{}})
		case xml.Directive:
			elements = append(elements, fragmentElement{name: "#directive", attrs: map[string]string{}})
		case xml.ProcInst:
			elements = append(elements, fragmentElement{name: "#procinst", attrs: map[string]string{}})
		}
	}
	return elements[1:], text.String(), nil // without the wrapper
}

// markdownText is a Markdown report as a reader sees it once rendered: its
// text, with escapes and entities resolved.
func markdownText(md []byte) string {
	var out bytes.Buffer
	if err := gfm.Convert(md, &out); err != nil {
		return fmt.Sprintf("(the Markdown does not render: %v)", err)
	}
	_, text, err := parseFragment(out.Bytes())
	if err != nil {
		return fmt.Sprintf("(the rendered Markdown does not parse: %v)", err)
	}
	return text
}

func TestMarkdownEscapesRunText(t *testing.T) {
	tests := map[string]struct {
		in string
		// block says the text begins a block (mdBlock), not the rest of a
		// line or a cell (mdInline).
		block bool
		want  markdown
	}{
		"a name and a generation stay as they are":       {in: "checkout-pod-kill (generation 3)", want: "checkout-pod-kill (generation 3)"},
		"an offset starting a list item is no list mark": {in: "+2m16s to -30s (15.2s)", block: true, want: "+2m16s to -30s (15.2s)"},
		"a condition's angle bracket is an entity":       {in: "<= 0.001 and >= 0.99", want: "&lt;= 0.001 and &gt;= 0.99"},
		"a tag is text":                           {in: "<script>alert(1)</script>", want: "&lt;script&gt;alert(1)&lt;/script&gt;"},
		"an entity shows as written":              {in: "&lt;b&gt;", want: "&amp;lt;b&amp;gt;"},
		"a pipe cannot end the cell":              {in: `a|b\|c`, want: `a\|b\\\|c`},
		"a link is text":                          {in: "[click](javascript:alert(1))", want: `\[click\](javascript:alert(1))`},
		"an image is text":                        {in: "![x](http://evil)", want: `\!\[x\](http://evil)`},
		"a backtick opens no code span":           {in: "a `b` c", want: "a \\`b\\` c"},
		"emphasis, strikethrough and math":        {in: "**a** _b_ ~~c~~ $d$", want: `\*\*a\*\* \_b\_ \~\~c\~\~ \$d\$`},
		"an attribute list and a heading":         {in: "{: .x} # h", want: `\{: .x\} \# h`},
		"a newline is a space":                    {in: "one\ntwo\r\nthree\rfour", want: "one two three four"},
		"a control is a visible escape":           {in: "\x1b[31mred", want: `\\x1b\[31mred`},
		"a list mark inside a cell stays":         {in: "- item", want: "- item"},
		"a list mark starting a block is escaped": {in: "- item", block: true, want: `\- item`},
		"a rule starting a block is escaped":      {in: "---", block: true, want: `\---`},
		"an ordered mark starting a block":        {in: "1. first", block: true, want: `1\. first`},
		"indented text starting a block":          {in: "   + x", block: true, want: `\+ x`},
		"a decimal starting a block stays":        {in: "1.5s", block: true, want: "1.5s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := mdInline(tc.in)
			if tc.block {
				got = mdBlock(tc.in)
			}
			if got != tc.want {
				t.Errorf("escaped %q as %q, want %q", tc.in, got, tc.want)
			}
			// What a reader sees is the text itself, on one line.
			md := []byte("- " + string(got) + "\n")
			if !tc.block {
				md = []byte("| a |\n|---|\n| " + string(got) + " |\n")
			}
			shown := strings.TrimSpace(markdownText(md))
			if !tc.block {
				shown = strings.TrimSpace(strings.TrimPrefix(shown, "a"))
			}
			if want := strings.TrimSpace(terminalText(tc.in)); shown != want {
				t.Errorf("%q renders as %q, want %q", got, shown, want)
			}
		})
	}
}

func TestMarkdownCodeSpans(t *testing.T) {
	tests := map[string]struct {
		in   string
		want markdown
		// cell is the same text written in a table cell.
		cell markdown
	}{
		"a query":                         {in: `sum(rate(x{code=~"5.."}[1m]))`, want: "`sum(rate(x{code=~\"5..\"}[1m]))`", cell: "`sum(rate(x{code=~\"5..\"}[1m]))`"},
		"a backtick needs a longer fence": {in: "a`b``c", want: "```a`b``c```", cell: "```a`b``c```"},
		"a backtick at either end":        {in: "`x`", want: "`` `x` ``", cell: "`` `x` ``"},
		"a pipe in a cell is escaped":     {in: `code=~"4..|5.."`, want: "`code=~\"4..|5..\"`", cell: "`code=~\"4..\\|5..\"`"},
		"a newline is a space":            {in: "a\nb", want: "`a b`", cell: "`a b`"},
		"markup is text":                  {in: "</code><script>x</script>", want: "`</code><script>x</script>`", cell: "`</code><script>x</script>`"},
		"a space at either end is kept":   {in: " x ", want: "`  x  `", cell: "`  x  `"},
		"nothing is none":                 {in: "", want: none, cell: none},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mdCode(tc.in); got != tc.want {
				t.Errorf("mdCode(%q) = %q, want %q", tc.in, got, tc.want)
			}
			got := mdCodeCell(tc.in)
			if got != tc.cell {
				t.Errorf("mdCodeCell(%q) = %q, want %q", tc.in, got, tc.cell)
			}
			if tc.in == "" {
				return
			}
			elements, text, err := parseFragment(markdownHTML(t, []byte("| a |\n|---|\n| "+string(got)+" |\n")))
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, e := range elements {
				if e.name == "code" {
					codes = append(codes, e.text)
				}
				if e.name == "script" {
					t.Errorf("the code span let an element through: %s", text)
				}
			}
			if want := terminalText(tc.in); len(codes) != 1 || codes[0] != want {
				t.Errorf("the cell holds the code spans %q, want one of %q", codes, want)
			}
		})
	}
}
