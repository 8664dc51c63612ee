package experiment

import (
	"slices"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// scope is what one reconcile works on.
type scope struct {
	// exp is the Experiment being reconciled; its status is computed in place.
	exp *chaosv1alpha1.Experiment
	// base is the Experiment as read, the origin of the status patch.
	base *chaosv1alpha1.Experiment
	// now is the one instant this reconcile reasons about.
	now time.Time
	// runs are the Experiment's runs as the cache has them.
	runs []chaosv1alpha1.ExperimentRun
	// events announce the transitions this reconcile records in status; they
	// are emitted once the status is written, and dropped if it is not.
	events []pendingEvent
	// observed is set when the reconcile ran to its end, or stopped on a
	// terminal error about this generation: ObservedGeneration is set then only.
	observed bool
	// skipPatch is set when the Experiment read is stale and must not be written.
	skipPatch bool
}

// pendingEvent is an Event waiting for the status write that records it.
type pendingEvent struct {
	eventType, reason, action, note string
}

// onWrite queues an event for when the status is written.
func (s *scope) onWrite(eventType, reason, action, note string) {
	s.events = append(s.events, pendingEvent{eventType: eventType, reason: reason, action: action, note: note})
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
