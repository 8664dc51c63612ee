// Package buildinfo says which build of Faultline is running, from what the
// Go toolchain recorded in the binary.
package buildinfo

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Info identifies a build.
type Info struct {
	// Version is the main module's version, "(devel)" for a build from a
	// work tree.
	Version string
	// Revision is the VCS commit the binary was built from, with "-dirty"
	// when the tree had changes; empty when the build recorded none.
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Read extracts Info from read, normally debug.ReadBuildInfo. A binary
// without build information (built by a tool that records none) still gets
// an Info, with "(devel)" and "unknown" in place of what is missing.
func Read(read func() (*debug.BuildInfo, bool)) Info {
	info, ok := read()
	if !ok || info == nil {
		return Info{Version: "(devel)", GoVersion: "unknown"}
	}
	out := Info{Version: info.Main.Version, GoVersion: info.GoVersion}
	if out.Version == "" {
		out.Version = "(devel)"
	}
	if out.GoVersion == "" {
		out.GoVersion = "unknown"
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && out.Revision != "" {
		out.Revision += "-dirty"
	}
	return out
}

// NewCollector is faultline_build_info: one series, value 1, whose labels
// name the build, so a dashboard can show which version runs and a query
// can join it onto other series.
func NewCollector(info Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "faultline_build_info",
		Help: "A metric with a constant 1 value labelled by the version, VCS revision and Go version Faultline was built from.",
		ConstLabels: prometheus.Labels{
			"version":   info.Version,
			"revision":  info.Revision,
			"goversion": info.GoVersion,
		},
	})
	g.Set(1)
	return g
}
