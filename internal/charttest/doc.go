// Package charttest checks the Helm chart in charts/faultline with the real
// helm binary (bin/helm, built by `hack/tools.sh helm`): it lints and renders
// the chart with several value sets, checks that bad values are refused with
// a message saying what to write instead, validates the PrometheusRule with
// promtool, and creates what it renders, with dryRun=All, on a real API
// server in a namespace that enforces the restricted Pod Security level.
//
// The package has no code of its own; its tests are the point.
package charttest
