package experiment

import (
	"slices"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/statuspatch"
)

// scope is what one reconcile works on.
type scope struct {
	// exp is the Experiment being reconciled; its status is computed in place.
	exp *chaosv1alpha1.Experiment
	// patch writes exp's status and then announces the transitions it
	// records; its Base is the Experiment as read, the origin of the patch.
	patch *statuspatch.Patcher[*chaosv1alpha1.Experiment]
	// now is the one instant this reconcile reasons about.
	now time.Time
	// runs are the Experiment's runs as the cache has them.
	runs []chaosv1alpha1.ExperimentRun
	// observed is set when the reconcile ran to its end, or stopped on a
	// terminal error about this generation: ObservedGeneration is set then only.
	observed bool
	// skipPatch is set when the Experiment read is stale and must not be written.
	skipPatch bool
}

// base is the Experiment as read.
func (s *scope) base() *chaosv1alpha1.Experiment { return s.patch.Base() }

// onWrite queues an event for when the status is written; it is dropped if
// the write fails.
func (s *scope) onWrite(eventType, reason, action, note string) {
	s.patch.Queue(statuspatch.Event{Type: eventType, Reason: reason, Action: action, Note: note})
}

// run returns the run named name (from the cache), or nil.
func (s *scope) run(name string) *chaosv1alpha1.ExperimentRun {
	for i := range s.runs {
		if s.runs[i].Name == name {
			return &s.runs[i]
		}
	}
	return nil
}

// hasRun reports whether a run named name exists (in the cache).
func (s *scope) hasRun(name string) bool {
	return slices.ContainsFunc(s.runs, func(r chaosv1alpha1.ExperimentRun) bool { return r.Name == name })
}

// started records a run created by this reconcile as active, so the status
// written now lists it and a scheduled run due in the same reconcile sees it.
func (s *scope) started(name string) {
	if !slices.Contains(s.exp.Status.Active, name) {
		s.exp.Status.Active = append(s.exp.Status.Active, name)
	}
}

// activeExcept returns the active runs other than name.
func (s *scope) activeExcept(name string) []string {
	var out []string
	for _, a := range s.exp.Status.Active {
		if a != name {
			out = append(out, a)
		}
	}
	return out
}
