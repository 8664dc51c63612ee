package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/durationpb"
	istionetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// IstioRestoreAnnotation holds, on a VirtualService under fault, the JSON of
// the IstioRestore that undoes it. It is the dead-man switch's half of the
// restore data: the run's status holds the other half, but a reaper that finds
// an expired VirtualService whose run is gone has nothing else to revert from.
const IstioRestoreAnnotation = "chaos.faultline.dev/restore"

// Istio delays and/or aborts requests on the http routes of a VirtualService
// by setting each route's fault, or, when the spec has a match, by inserting
// ahead of each route a copy narrowed to that match with the fault set.
//
// It changes only what it records: the fault of the named routes, the routes
// it inserts, and its own annotations. Every write is a JSON patch of exactly
// those paths, guarded by the resourceVersion it was computed from, so a
// weight, retry or route another writer changed meanwhile is never
// overwritten, and so fields this build's Istio types do not know (from a
// newer Istio) survive: a read-modify-Update through the typed client would
// silently drop them.
//
// A VirtualService carries one run's fault at a time. Inject marks it with
// the run (chaos.faultline.dev/run), an expiry (chaos.faultline.dev/expires)
// and the restore data (IstioRestoreAnnotation), so ReapIstio can revert an
// expired fault from the VirtualService alone.
type Istio struct {
	client versioned.Interface
	spec   chaosv1alpha1.IstioFault
	clock  clock.PassiveClock
}

var _ Fault = (*Istio)(nil)

// NewIstio returns an Istio fault that acts through c as spec says. It tells
// whether another run's marks have expired by the real clock; WithClock
// replaces it.
func NewIstio(c versioned.Interface, spec chaosv1alpha1.IstioFault) *Istio {
	return &Istio{client: c, spec: spec, clock: clock.RealClock{}}
}

// WithClock makes f judge other runs' expiry by c, and returns f.
func (f *Istio) WithClock(c clock.PassiveClock) *Istio {
	f.clock = c
	return f
}

// Prepare reads the VirtualService and records, for each targeted route, its
// current fault, the fault Inject will set and, for scoped faults, the name
// of the route Inject will insert. It changes nothing.
//
// A VirtualService that is gone, or is another object with the same name, is
// ErrTargetGone. A spec that cannot apply to it (a route name it lacks, no
// http routes, an unnamed route, a match that contradicts a route's own) is
// an error that says so.
//
// When another run's fault is on the VirtualService, the original faults are
// read as they will be once that run's fault is reverted: recording that
// run's fault as "original" would make our revert put it back, and it would
// outlive its run. When this run's own marks are already there, a second
// Prepare returns the restore data Inject recorded for the same reason.
func (f *Istio) Prepare(ctx context.Context, t Target) (Restore, error) {
	if err := checkIstioTarget(t); err != nil {
		return nil, err
	}
	vs, err := f.get(ctx, t)
	if err != nil {
		return nil, err
	}
	marks := readIstioMarks(vs)
	if marks.run == t.Run && marks.restore != nil {
		return &chaosv1alpha1.RestoreData{Istio: marks.restore}, nil
	}
	ed := newVSEditor(vs)
	if marks.run != "" && marks.run != t.Run && marks.restore != nil {
		// Only the in-memory view is reverted; the ops are discarded.
		if _, err := ed.undo(marks.restore); err != nil {
			return nil, fmt.Errorf("VirtualService %s: reading run %s's restore data: %w", klog.KObj(vs), marks.run, err)
		}
	}
	names, err := resolveRoutes(vs, ed.http, f.spec.Routes)
	if err != nil {
		return nil, err
	}
	injected := f.fault()
	injectedJSON, err := faultJSON(injected)
	if err != nil {
		return nil, err
	}
	restore := &chaosv1alpha1.IstioRestore{}
	for _, name := range names {
		route := ed.http[ed.index(name)]
		original, err := faultJSON(route.GetFault())
		if err != nil {
			return nil, fmt.Errorf("VirtualService %s route %q: encoding its fault: %w", klog.KObj(vs), name, err)
		}
		rr := chaosv1alpha1.IstioRouteRestore{Name: name, OriginalFault: original, InjectedFault: injectedJSON}
		if f.spec.Match != nil {
			rr.InsertedRoute = insertedRouteName(name, t.Run)
			// Built now only to refuse a match that contradicts the route's
			// own before anything is recorded; Inject builds it again from
			// the route as it is then.
			if _, err := scopedRoute(route, f.spec.Match, rr.InsertedRoute, injected); err != nil {
				return nil, fmt.Errorf("VirtualService %s: %w", klog.KObj(vs), err)
			}
		}
		restore.Routes = append(restore.Routes, rr)
	}
	return &chaosv1alpha1.RestoreData{Istio: restore}, nil
}

// Inject sets the faults r records, in one write. It is a no-op when they are
// already set (a scoped fault's inserted route exists, or a route's fault is
// already the injected one).
//
// A route whose fault is neither the recorded original nor the injected one
// (or which is gone) was changed by another writer since Prepare: Inject
// writes nothing and returns an error that is both a *ConflictError and
// ErrBlocked, so the run reports the target instead of retrying or forcing.
// Another run's unexpired fault on the VirtualService is ErrBlocked too. An
// expired one is reverted from its restore annotation in the same write,
// since its run evidently failed to, and the reaper may not have come yet.
func (f *Istio) Inject(ctx context.Context, t Target, r Restore) (Restore, error) {
	if err := checkIstioTarget(t); err != nil {
		return r, err
	}
	if r == nil || r.Istio == nil || len(r.Istio.Routes) == 0 {
		return r, fmt.Errorf("VirtualService %s/%s: no restore data; record what Prepare returns before injecting, or the fault could not be reverted", t.Namespace, t.Name)
	}
	restoreJSON, err := json.Marshal(r.Istio)
	if err != nil {
		return r, fmt.Errorf("encoding restore data: %w", err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		vs, err := f.get(ctx, t)
		if err != nil {
			return err
		}
		ed := newVSEditor(vs)
		marks := readIstioMarks(vs)
		if marks.run != "" && marks.run != t.Run {
			now := f.clock.Now()
			if !marks.expired(now) {
				return fmt.Errorf("VirtualService %s is already under fault by run %s until %s: %w", klog.KObj(vs), marks.run, marks.expires.Format(time.RFC3339), ErrBlocked)
			}
			if marks.restore == nil {
				return fmt.Errorf("VirtualService %s carries the marks of expired run %s but no readable %s, so its fault cannot be reverted; refusing to add another: %w", klog.KObj(vs), marks.run, IstioRestoreAnnotation, ErrBlocked)
			}
			if _, err := ed.undo(marks.restore); err != nil {
				return fmt.Errorf("VirtualService %s: reverting expired run %s: %w", klog.KObj(vs), marks.run, err)
			}
			ed.removeMarks()
			logr.FromContextOrDiscard(ctx).Info("Reverting an expired fault of another run before injecting", "virtualService", klog.KObj(vs), "expiredRun", marks.run)
		}
		conflicts, err := ed.apply(r.Istio, f.spec.Match)
		if err != nil {
			return fmt.Errorf("VirtualService %s: %w", klog.KObj(vs), err)
		}
		if len(conflicts) > 0 {
			conflict := &ConflictError{Message: fmt.Sprintf("VirtualService %s changed since Prepare: %s; nothing injected", klog.KObj(vs), strings.Join(conflicts, "; "))}
			return fmt.Errorf("%w (%w)", conflict, ErrBlocked)
		}
		ed.setLabel(chaosv1alpha1.InjectedLabel, "true")
		ed.setAnnotation(chaosv1alpha1.RunAnnotation, t.Run)
		ed.setAnnotation(chaosv1alpha1.ExpiryAnnotation, t.Expires.UTC().Format(time.RFC3339))
		ed.setAnnotation(IstioRestoreAnnotation, string(restoreJSON))
		return ed.write(ctx, f.client)
	})
	return r, err
}

// Revert undoes what r records, and nothing else: a route's fault is restored
// only while it is still the injected one; a route or fault another writer
// changed is left as they wrote it and reported in a *ConflictError, after
// every other route is restored. Inserted routes are removed whatever became
// of them, since they are wholly Faultline's. The run's marks are removed
// only if they name this run.
//
// It is idempotent and safe when Inject never ran. When r is empty it falls
// back to the restore annotation if the marks name this run. It does nothing
// when the VirtualService is gone or replaced, or when another run's marks are
// on it: this run's fault was then already reverted, by the reaper or by the
// other run taking over after its expiry, and the route faults now belong to
// that run, even if they look the same as ours.
func (f *Istio) Revert(ctx context.Context, t Target, r Restore) error {
	if t.Kind != chaosv1alpha1.TargetVirtualService {
		return fmt.Errorf("istio fault cannot act on a %s", t.Kind)
	}
	rv := istioRevert{namespace: t.Namespace, name: t.Name, uid: t.UID, run: t.Run}
	if r != nil {
		rv.restore = r.Istio
	}
	_, err := revertIstio(ctx, f.client, rv)
	return err
}

// istioRevert says which VirtualService revertIstio reverts, whose fault, and
// from what.
type istioRevert struct {
	// namespace and name find the VirtualService.
	namespace, name string
	// uid, when set, is the object the fault was put on: a same-named
	// replacement is left alone.
	uid types.UID
	// run is the run whose fault is undone. A VirtualService another run has
	// marked is left alone: its route faults are that run's now.
	run string
	// restore undoes the fault. When nil, the restore annotation does, if the
	// marks name run.
	restore *chaosv1alpha1.IstioRestore
	// needRestore makes marks of run without readable restore data an error.
	// Without it they are removed and nothing else is reverted; the reaper
	// sets it, since it has nothing else to revert from and removing the marks
	// would leave the fault in place for good, unmarked.
	needRestore bool
}

// revertIstio is the one revert loop of the Istio fault, for both Revert and
// ReapIstio: it reads the VirtualService afresh, undoes rv's restore data on
// the routes still as Faultline left them, removes run's marks, and writes
// all of it as one pinned JSON patch, starting over on a Conflict. changed
// reports whether anything was written. Routes another writer changed are
// left as they wrote them and reported in a *ConflictError, after the rest
// is written.
func revertIstio(ctx context.Context, c versioned.Interface, rv istioRevert) (changed bool, err error) {
	var conflict *ConflictError
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed, conflict = false, nil
		vs, err := c.NetworkingV1().VirtualServices(rv.namespace).Get(ctx, rv.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading VirtualService %s/%s: %w", rv.namespace, rv.name, err)
		}
		if rv.uid != "" && vs.UID != rv.uid {
			return nil
		}
		marks := readIstioMarks(vs)
		ours := marks.run == rv.run
		if marks.run != "" && !ours {
			return nil
		}
		restore := rv.restore
		if restore == nil && ours {
			if marks.restore == nil && rv.needRestore {
				return fmt.Errorf("VirtualService %s carries run %s's marks but no readable %s: %s", klog.KObj(vs), rv.run, IstioRestoreAnnotation, marks.restoreErr)
			}
			restore = marks.restore
		}
		ed := newVSEditor(vs)
		if restore != nil {
			conflicts, err := ed.undo(restore)
			if err != nil {
				return fmt.Errorf("VirtualService %s: %w", klog.KObj(vs), err)
			}
			if len(conflicts) > 0 {
				conflict = &ConflictError{Message: fmt.Sprintf("VirtualService %s: %s", klog.KObj(vs), strings.Join(conflicts, "; "))}
			}
		}
		if ours {
			ed.removeMarks()
		}
		changed = len(ed.ops) > 0
		return ed.write(ctx, c)
	})
	if err != nil {
		return false, err
	}
	if conflict != nil {
		return changed, conflict
	}
	return changed, nil
}

// get reads the target, mapping absence and replacement to ErrTargetGone.
func (f *Istio) get(ctx context.Context, t Target) (*networkingv1.VirtualService, error) {
	vs, err := f.client.NetworkingV1().VirtualServices(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("VirtualService %s/%s: %w", t.Namespace, t.Name, ErrTargetGone)
	}
	if err != nil {
		return nil, fmt.Errorf("reading VirtualService %s/%s: %w", t.Namespace, t.Name, err)
	}
	if vs.UID != t.UID {
		return nil, fmt.Errorf("VirtualService %s/%s is now UID %s, not the selected %s: %w", t.Namespace, t.Name, vs.UID, t.UID, ErrTargetGone)
	}
	return vs, nil
}

// fault is the fault the spec asks for, as Istio expresses it.
func (f *Istio) fault() *istionetworking.HTTPFaultInjection {
	fault := &istionetworking.HTTPFaultInjection{}
	if d := f.spec.Delay; d != nil {
		fault.Delay = &istionetworking.HTTPFaultInjection_Delay{
			HttpDelayType: &istionetworking.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(d.FixedDelay.Duration)},
			Percentage:    &istionetworking.Percent{Value: float64(d.Percent)},
		}
	}
	if a := f.spec.Abort; a != nil {
		fault.Abort = &istionetworking.HTTPFaultInjection_Abort{
			ErrorType:  &istionetworking.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: a.HTTPStatus},
			Percentage: &istionetworking.Percent{Value: float64(a.Percent)},
		}
	}
	return fault
}

// checkIstioTarget refuses targets Istio cannot act on safely: without a UID
// a same-named replacement could not be told from the selected object.
func checkIstioTarget(t Target) error {
	if t.Kind != chaosv1alpha1.TargetVirtualService {
		return fmt.Errorf("istio fault cannot act on a %s", t.Kind)
	}
	if t.UID == "" {
		return fmt.Errorf("istio fault target %s/%s has no UID; refusing to act on a VirtualService that may not be the one selected", t.Namespace, t.Name)
	}
	if t.Run == "" {
		return fmt.Errorf("istio fault target %s/%s has no run; its marks would not say whose fault it is", t.Namespace, t.Name)
	}
	return nil
}

// istioMarks are the annotations Inject leaves on a VirtualService.
type istioMarks struct {
	// run is the namespace/name of the run whose fault is on it; "" if none.
	run string
	// expires is when the fault is overdue; zero when missing or unreadable.
	expires time.Time
	// restore undoes the fault; nil when missing or unreadable.
	restore *chaosv1alpha1.IstioRestore
	// restoreErr says why restore is nil.
	restoreErr string
}

func readIstioMarks(vs *networkingv1.VirtualService) istioMarks {
	ann := vs.GetAnnotations()
	m := istioMarks{run: ann[chaosv1alpha1.RunAnnotation]}
	if m.run == "" {
		return m
	}
	if exp, err := time.Parse(time.RFC3339, ann[chaosv1alpha1.ExpiryAnnotation]); err == nil {
		m.expires = exp
	}
	raw, ok := ann[IstioRestoreAnnotation]
	if !ok {
		m.restoreErr = "the annotation is missing"
		return m
	}
	restore := &chaosv1alpha1.IstioRestore{}
	if err := json.Unmarshal([]byte(raw), restore); err != nil {
		m.restoreErr = err.Error()
		return m
	}
	m.restore = restore
	return m
}

// expired reports whether the marked fault is overdue at now. A missing or
// unreadable expiry counts as expired: every artefact must carry one, and one
// that does not must not hold the VirtualService forever.
func (m istioMarks) expired(now time.Time) bool {
	return m.expires.IsZero() || !now.Before(m.expires)
}
