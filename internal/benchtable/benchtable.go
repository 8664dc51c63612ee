// Package benchtable collects the figures Faultline's benchmarks measure
// into one table: measurement, Faultline, the raw API or a peer, their ratio
// and the goal. Each benchmark logs its rows; when FAULTLINE_BENCH_TABLE
// names a file, the rows are also appended to it (tab-separated) and
// `go run ./hack/benchtable FILE` prints them as one table, which is what
// `make bench` and `make bench-testbed` show.
package benchtable

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// EnvFile names the file rows are appended to.
const EnvFile = "FAULTLINE_BENCH_TABLE"

// Row is one line of the table. Empty cells print as "—".
type Row struct {
	// Measurement says what was measured, with its conditions.
	Measurement string
	// Faultline is Faultline's figure, with its unit.
	Faultline string
	// Peer is the figure of what Faultline is compared with, naming it,
	// such as "0.88 s (client-go, 32 workers)".
	Peer string
	// Ratio relates the two, such as "0.93× raw speed".
	Ratio string
	// Goal is the target, such as "≥ 0.9× raw" or "p99 < 1 s".
	Goal string
}

var mu sync.Mutex

// Record logs r on tb and appends it to the table file, if one is named.
func Record(tb testing.TB, r Row) {
	tb.Helper()
	tb.Logf("bench: %s | faultline %s | peer %s | ratio %s | goal %s", r.Measurement, cell(r.Faultline), cell(r.Peer), cell(r.Ratio), cell(r.Goal))
	path := os.Getenv(EnvFile)
	if path == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Errorf("bench table %s: %v", path, err)
		return
	}
	_, err = fmt.Fprintln(f, strings.Join([]string{clean(r.Measurement), clean(r.Faultline), clean(r.Peer), clean(r.Ratio), clean(r.Goal)}, "\t"))
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		tb.Errorf("bench table %s: %v", path, err)
	}
}

// Seconds formats a duration in seconds the way the table shows it.
func Seconds(s float64) string { return fmt.Sprintf("%.2f s", s) }

func cell(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func clean(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(cell(s))
}
