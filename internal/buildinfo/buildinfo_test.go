package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRead(t *testing.T) {
	tests := map[string]struct {
		info *debug.BuildInfo
		ok   bool
		want Info
	}{
		"a release build names its version and commit": {
			info: &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "v0.4.0"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "cac54d5"}, {Key: "vcs.modified", Value: "false"}}},
			ok:   true,
			want: Info{Version: "v0.4.0", Revision: "cac54d5", GoVersion: "go1.26.7"},
		},
		"a build from a changed tree is marked dirty": {
			info: &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			ok:   true,
			want: Info{Version: "(devel)", Revision: "abc-dirty", GoVersion: "go1.26.7"},
		},
		"a binary without build information still says so": {
			ok:   false,
			want: Info{Version: "(devel)", GoVersion: "unknown"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Read(func() (*debug.BuildInfo, bool) { return tc.info, tc.ok })
			if got != tc.want {
				t.Errorf("Read() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCollectorExposesOneSeriesOfValueOne(t *testing.T) {
	info := Read(debug.ReadBuildInfo)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(info))
	want := `# HELP faultline_build_info A metric with a constant 1 value labelled by the version, VCS revision and Go version Faultline was built from.
# TYPE faultline_build_info gauge
faultline_build_info{goversion="` + info.GoVersion + `",revision="` + info.Revision + `",version="` + info.Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "faultline_build_info"); err != nil {
		t.Error(err)
	}
}
