package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// servedResources are the resources whose served versions `version` lists:
// a plugin and an operator that disagree on them disagree on everything.
var servedResources = []string{"experiments", "experimentruns", "chaospolicies"}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version and the Faultline API versions the cluster serves",
		Long: `Print the plugin's version, the Go version it was built with, and, when a
cluster is reachable, the versions of the ` + chaosv1alpha1.GroupVersion.Group + ` API it serves.

A cluster that cannot be reached is noted, not an error: the plugin's own
version is what a bug report needs first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.untilInterrupted(cmd.Context())
			defer cancel()
			return a.version(ctx, debug.ReadBuildInfo)
		},
	}
}

// pluginVersion is the main module's version with the VCS revision and time
// the binary was built from, as far as the build recorded them.
func pluginVersion(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "(devel)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var details []string
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += "-dirty"
		}
		details = append(details, "commit "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, "built from a commit of "+t)
	}
	if len(details) > 0 {
		version += " (" + strings.Join(details, ", ") + ")"
	}
	return version
}

func (a *app) version(ctx context.Context, buildInfo func() (*debug.BuildInfo, bool)) error {
	if _, err := fmt.Fprintf(a.stdout, "Plugin:  %s\nGo:      %s %s/%s\n",
		pluginVersion(buildInfo()), runtime.Version(), runtime.GOOS, runtime.GOARCH); err != nil {
		return err
	}
	versions, err := a.servedVersions(ctx)
	if err != nil {
		a.say("note: cannot read the API versions the cluster serves: %v\n", err)
		return nil
	}
	served := "none (Faultline's CRDs are not installed)"
	if len(versions) > 0 {
		served = strings.Join(versions, ", ")
	}
	_, err = fmt.Fprintf(a.stdout, "Cluster: %s %s\n", chaosv1alpha1.GroupVersion.Group, served)
	return err
}

// servedVersions asks discovery, through the client's REST mapper, which
// versions of Faultline's resources the cluster serves, the preferred first.
func (a *app) servedVersions(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, _, err := a.connect()
	if err != nil {
		return nil, err
	}
	var versions []string
	for _, resource := range servedResources {
		kinds, err := c.RESTMapper().KindsFor(schema.GroupVersionResource{Group: chaosv1alpha1.GroupVersion.Group, Resource: resource})
		if err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return nil, fmt.Errorf("discovering %s.%s: %w", resource, chaosv1alpha1.GroupVersion.Group, err)
		}
		for _, k := range kinds {
			if !slices.Contains(versions, k.Version) {
				versions = append(versions, k.Version)
			}
		}
	}
	return versions, nil
}
