package schedule

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// MaxRunNameLength is the longest name RunName returns: the limit of a label
// value, because the run's name is also the value of the
// chaos.faultline.dev/run label on everything it injects.
const MaxRunNameLength = 63

// nameHashLength is the number of hex digits of the experiment name's hash
// kept when the name has to be shortened.
const nameHashLength = 8

// RunName returns the name of the ExperimentRun for experimentName's run
// scheduled at scheduled: "<experiment>-<unix seconds>". It depends on
// nothing else, so a controller that crashed after creating the run and
// plans again finds the name taken (AlreadyExists) instead of starting a
// second run for the same time.
//
// Unix seconds, not the CronJob controller's minutes: "@every 20s" runs
// three times a minute, and with minutes the second and third run would
// collide with the first and never start.
//
// Names that would exceed MaxRunNameLength keep a prefix of the experiment
// name and add a hash of the whole of it, so two long names that share a
// prefix still get different runs.
func RunName(experimentName string, scheduled time.Time) string {
	suffix := strconv.FormatInt(scheduled.Unix(), 10)
	name := experimentName + "-" + suffix
	if len(name) <= MaxRunNameLength {
		return name
	}
	hash := fnv.New32a()
	_, _ = hash.Write([]byte(experimentName)) // a hash.Hash never fails to write
	keep := MaxRunNameLength - len(suffix) - nameHashLength - 2
	// A prefix ending in '-' or '.' would put "-" or ".-" mid-name, and "."
	// followed by "-" is not a valid DNS subdomain.
	prefix := strings.TrimRight(experimentName[:keep], "-.")
	return fmt.Sprintf("%s-%0*x-%s", prefix, nameHashLength, hash.Sum32(), suffix)
}
