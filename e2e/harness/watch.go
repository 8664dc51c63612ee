package harness

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The resources the soak's checker and the ground-truth tests watch
// through the dynamic client.
var (
	PodsGVR            = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	NodesGVR           = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	VirtualServicesGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	ExperimentRunsGVR  = chaosv1alpha1.GroupVersion.WithResource("experimentruns")
)

// ObserveResource lists, then watches from the list's resourceVersion,
// resuming after every interruption; when the version is gone it lists
// again and replays what changed as events. handle gets each event with
// the instant it arrived.
func ObserveResource(ctx context.Context, ri dynamic.ResourceInterface,
	handle func(watch.EventType, *unstructured.Unstructured, time.Time), onRelist, onWatchError func(),
	ready chan<- struct{}, errs chan<- error) {
	known := map[types.UID]*unstructured.Unstructured{}
	var rv string
	relist := func() error {
		l, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		now := time.Now()
		seen := map[types.UID]bool{}
		for i := range l.Items {
			u := &l.Items[i]
			seen[u.GetUID()] = true
			old, ok := known[u.GetUID()]
			switch {
			case !ok:
				handle(watch.Added, u, now)
			case old.GetResourceVersion() != u.GetResourceVersion():
				handle(watch.Modified, u, now)
			}
			known[u.GetUID()] = u
		}
		for uid, u := range known {
			if !seen[uid] {
				handle(watch.Deleted, u, now)
				delete(known, uid)
			}
		}
		rv = l.GetResourceVersion()
		return nil
	}
	relistUntil := func() {
		onRelist()
		for ctx.Err() == nil {
			if err := relist(); err == nil {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	for {
		err := relist()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			errs <- err
			return
		}
		time.Sleep(time.Second)
	}
	close(ready)
	for ctx.Err() == nil {
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			onWatchError()
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				relistUntil()
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		gone := false
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Bookmark:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					rv = u.GetResourceVersion()
				}
			case watch.Error:
				onWatchError()
				status := apierrors.FromObject(ev.Object)
				gone = apierrors.IsResourceExpired(status) || apierrors.IsGone(status)
			default:
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				rv = u.GetResourceVersion()
				handle(ev.Type, u, time.Now())
				if ev.Type == watch.Deleted {
					delete(known, u.GetUID())
				} else {
					known[u.GetUID()] = u
				}
			}
			if gone {
				break
			}
		}
		w.Stop()
		if gone {
			relistUntil()
		}
	}
}
