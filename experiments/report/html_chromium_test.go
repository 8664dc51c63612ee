package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The window the page is rendered in: the width the page is laid out for,
// and a height that shows the banner, the figures and the timeline.
const (
	chromiumWidth  = 1200
	chromiumHeight = 900
)

// chromium finds Debian's chromium on PATH. Without it the test skips,
// unless FAULTLINE_REQUIRE_CHROMIUM is set (as `make envtest` and CI set it),
// where its absence is a failure rather than a silent skip.
func chromium(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err == nil {
		return bin
	}
	if os.Getenv("FAULTLINE_REQUIRE_CHROMIUM") != "" {
		t.Fatalf("chromium is not on PATH and FAULTLINE_REQUIRE_CHROMIUM is set: install it with `hack/tools.sh chromium` (Debian's chromium package)")
	}
	t.Skip("chromium is not on PATH: install it with `hack/tools.sh chromium` (Debian's chromium package) to render the HTML report in a real browser; set FAULTLINE_REQUIRE_CHROMIUM=1 to fail instead of skipping")
	return ""
}

// runChromium runs headless Chromium on page with args, in its own profile
// so parallel runs do not share one, and returns its standard output.
func runChromium(t *testing.T, bin, dir, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--force-color-profile=srgb", // colours as written, so the screenshot can be checked for them
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		"--window-size=" + strconv.Itoa(chromiumWidth) + "," + strconv.Itoa(chromiumHeight),
	}, args...)
	all = append(all, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(all, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	runs := map[string]struct {
		run func() *chaosv1alpha1.ExperimentRun
		// faultShown: the fault window is wide enough to be seen at this
		// width (a pod kill is reverted within a fraction of a second).
		faultShown bool
		// screenshot is where -update keeps the screenshot, if anywhere.
		screenshot string
	}{
		"a run aborted by its guard":                  {run: abortedRun, faultShown: true},
		"the example run, notified and remediated":    {run: exampleRun, screenshot: filepath.Join("..", "..", "docs", "report-example.png")},
		"a run the operator has not picked up at all": {run: newRunOnly},
		"a run compared with control":                 {run: comparedRun, faultShown: true},
	}
	for name, tc := range runs {
		t.Run(name, func(t *testing.T) {
			run := tc.run()
			s := Summarize(run)
			dir := t.TempDir()
			page := filepath.Join(dir, "report.html")
			if err := os.WriteFile(page, renderHTML(t, run), 0o644); err != nil {
				t.Fatal(err)
			}

			shot := filepath.Join(dir, "report.png")
			runChromium(t, bin, dir, page, "--screenshot="+shot)
			data, err := os.ReadFile(shot)
			if err != nil {
				t.Fatalf("no screenshot: %v", err)
			}
			if tc.screenshot != "" && *update {
				// The README shows this screenshot; it is rewritten, never
				// compared, since fonts differ from one machine to the next.
				if err := os.WriteFile(tc.screenshot, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("the screenshot is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != chromiumWidth || b.Dy() != chromiumHeight {
				t.Errorf("screenshot is %dx%d, want the window's %dx%d", b.Dx(), b.Dy(), chromiumWidth, chromiumHeight)
			}
			colours := coloursOf(img)
			if len(colours) <= 1 {
				t.Errorf("the screenshot is blank: one colour")
			}
			banner := verdictColours[s.Verdict]
			if !fullRowOf(img, hexColour(t, banner)) {
				t.Errorf("no row of the screenshot is the verdict's colour %s: the banner was not drawn with its CSS", banner)
			}
			if tc.faultShown && colours[hexColour(t, colourFault)] == 0 {
				t.Errorf("the fault window's colour %s is not in the screenshot: the SVG timeline was not drawn", colourFault)
			}
			if run.Status.Comparison != nil {
				// The timeline draws both groups' values, each in its colour.
				for _, c := range []string{colourExperimentGroup, colourControlGroup} {
					if colours[hexColour(t, c)] == 0 {
						t.Errorf("a comparison group's colour %s is not in the screenshot", c)
					}
				}
			}
			if run.Status.Timeline.RecoveredAt != nil && colours[hexColour(t, colourFailing)] == 0 {
				t.Errorf("the failing span's colour %s is not in the screenshot", colourFailing)
			}

			dom := parseHTMLPage(t, runChromium(t, bin, dir, page, "--dump-dom"))
			verdict := dom.all(byID("verdict"))
			if len(verdict) != 1 || !strings.Contains(verdict[0].textContent(), verdictText(s)) {
				t.Errorf("Chromium's DOM has no banner saying %q", verdictText(s))
			}
			var marks []string
			for _, m := range dom.all(byAttr("data-mark")) {
				marks = append(marks, m.attrs["data-mark"])
			}
			if want := markedInstants(run); !slices.Equal(marks, want) {
				t.Errorf("Chromium's DOM has marks %v, want %v", marks, want)
			}
			svgs := dom.all(func(n *htmlNode) bool { return n.name == "svg" })
			if wantSVG := len(s.Timeline.Events) > 0; wantSVG != (len(svgs) > 0) {
				t.Errorf("Chromium's DOM has %d SVGs for a run with %d instants", len(svgs), len(s.Timeline.Events))
			}
		})
	}
}

// coloursOf counts the pixels of each colour.
func coloursOf(img image.Image) map[color.RGBA]int {
	out := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out[rgba(img.At(x, y))]++
		}
	}
	return out
}

// fullRowOf reports whether some row of img is all c: the banner spans the
// window.
func fullRowOf(img image.Image, c color.RGBA) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		full := true
		for x := b.Min.X; x < b.Max.X && full; x++ {
			full = rgba(img.At(x, y)) == c
		}
		if full {
			return true
		}
	}
	return false
}

func rgba(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: uint8(a >> 8)}
}

// hexColour parses "#rrggbb".
func hexColour(t *testing.T, s string) color.RGBA {
	t.Helper()
	var c color.RGBA
	if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B); err != nil {
		t.Fatalf("colour %q: %v", s, err)
	}
	c.A = 0xff
	return c
}
