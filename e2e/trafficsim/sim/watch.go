package sim

import (
	"context"
	"errors"
	"fmt"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istiolisters "istio.io/client-go/pkg/listers/networking/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// watcher keeps the simulator's view of EndpointSlices and VirtualServices
// current. It runs one pair of namespace-scoped informers per namespace
// rather than one per service, and after any event recomputes the affected
// service from the informer cache, so the outcome never depends on which
// events were delivered or merged.
type watcher struct {
	sim   *Simulator
	kube  kubernetes.Interface
	istio istioclient.Interface
}

func newWatcher(s *Simulator, kube kubernetes.Interface, istio istioclient.Interface) *watcher {
	return &watcher{sim: s, kube: kube, istio: istio}
}

// start starts the informers and waits for their caches to sync.
func (w *watcher) start(ctx context.Context) error {
	byNS := map[string][]string{}
	for _, svc := range w.sim.cfg.Services {
		byNS[svc.Namespace] = append(byNS[svc.Namespace], svc.Name)
	}
	var synced []cache.InformerSynced
	var initial []func()
	for ns, names := range byNS {
		req, err := labels.NewRequirement(discoveryv1.LabelServiceName, selection.In, names)
		if err != nil {
			return fmt.Errorf("label selector for %s: %w", ns, err)
		}
		selector := labels.NewSelector().Add(*req).String()
		kf := informers.NewSharedInformerFactoryWithOptions(w.kube, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
		slices := kf.Discovery().V1().EndpointSlices()
		sliceLister := slices.Lister()
		if _, err := slices.Informer().AddEventHandler(handler(func(obj any) {
			m, ok := obj.(metav1.Object)
			if !ok {
				return
			}
			svc := ServiceRef{Namespace: m.GetNamespace(), Name: m.GetLabels()[discoveryv1.LabelServiceName]}
			w.refreshEndpoints(sliceLister, svc)
		})); err != nil {
			return err
		}

		// VirtualServices are watched in the whole namespace, not by
		// name: a field selector per service would need one watch each,
		// and the namespaces of a testbed hold only a few of them.
		vsInformer := w.virtualServiceInformer(ns)
		vsLister := istiolisters.NewVirtualServiceLister(vsInformer.GetIndexer())
		if _, err := vsInformer.AddEventHandler(handler(func(obj any) {
			m, ok := obj.(metav1.Object)
			if !ok {
				return
			}
			w.refreshRoutes(vsLister, ServiceRef{Namespace: m.GetNamespace(), Name: m.GetName()})
		})); err != nil {
			return err
		}

		kf.Start(ctx.Done())
		go vsInformer.RunWithContext(ctx)
		synced = append(synced, slices.Informer().HasSynced, vsInformer.HasSynced)

		for _, name := range names {
			svc := ServiceRef{Namespace: ns, Name: name}
			initial = append(initial, func() {
				w.refreshEndpoints(sliceLister, svc)
				w.refreshRoutes(vsLister, svc)
			})
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return errors.New("informer caches did not sync")
	}
	// Compute every service once after the sync, so that one without any
	// EndpointSlice or VirtualService is logged and set too.
	for _, f := range initial {
		f()
	}
	return nil
}

// virtualServiceInformer builds the VirtualService informer of namespace ns.
// It is built here rather than taken from istio.io/client-go's informer
// factory because that factory's list-watch does not pass on whether the
// client supports watch-list semantics; client-go's reflector then assumes it
// does, and against a client that does not (such as a fake clientset) the
// informer never syncs. Wrapping it as client-go's own generated informers do
// keeps the real behaviour for a real apiserver.
func (w *watcher) virtualServiceInformer(ns string) cache.SharedIndexInformer {
	vs := w.istio.NetworkingV1().VirtualServices(ns)
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return vs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return vs.Watch(ctx, o)
		},
	}, w.istio)
	return cache.NewSharedIndexInformerWithOptions(lw, &istionetworkingv1.VirtualService{}, cache.SharedIndexInformerOptions{
		Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
	})
}

// handler calls f with the object of every add, update and delete,
// unwrapping the tombstones of deletes the informer only learned of late.
func handler(f func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { f(obj) },
		UpdateFunc: func(_, obj any) { f(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			f(obj)
		},
	}
}

func (w *watcher) refreshEndpoints(lister discoverylisters.EndpointSliceLister, svc ServiceRef) {
	if _, ok := w.sim.state[svc]; !ok {
		return
	}
	slices, err := lister.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
	if err != nil {
		w.sim.log.Error("list endpointslices", "service", svc.String(), "err", err)
		return
	}
	w.sim.setReady(svc, CountReady(slices))
}

func (w *watcher) refreshRoutes(lister istiolisters.VirtualServiceLister, svc ServiceRef) {
	if _, ok := w.sim.state[svc]; !ok {
		return
	}
	vs, err := lister.VirtualServices(svc.Namespace).Get(svc.Name)
	switch {
	case apierrors.IsNotFound(err):
		w.sim.setRoutes(svc, nil)
		return
	case err != nil:
		w.sim.log.Error("get virtualservice", "service", svc.String(), "err", err)
		return
	}
	routes, err := CompileRoutes(&vs.Spec)
	if err != nil {
		w.sim.log.Warn("virtualservice partly modelled", "service", svc.String(), "err", err)
	}
	w.sim.setRoutes(svc, routes)
}

// CountReady counts the distinct ready endpoints across a service's
// EndpointSlices. A nil ready condition means ready, as the EndpointSlice API
// says. Endpoints are told apart by the pod they point at, else by address,
// because a dual-stack service lists each pod once per address family.
func CountReady(slices []*discoveryv1.EndpointSlice) int {
	seen := map[string]bool{}
	n := 0
	for _, s := range slices {
		for i, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			var key string
			switch {
			case ep.TargetRef != nil && ep.TargetRef.Name != "":
				key = "ref/" + ep.TargetRef.Kind + "/" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
			case len(ep.Addresses) > 0:
				key = "addr/" + ep.Addresses[0]
			default:
				key = fmt.Sprintf("slice/%s/%d", s.Name, i)
			}
			if !seen[key] {
				seen[key] = true
				n++
			}
		}
	}
	return n
}
