package rights

import (
	"fmt"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Check is one right a run needs: the resource attributes of a
// SubjectAccessReview, and why Faultline would use the right.
type Check struct {
	// Verb is the API verb, such as delete or patch.
	Verb string
	// Group is the API group of Resource, "" for the core group.
	Group string
	// Resource is the plural resource name, such as pods.
	Resource string
	// Subresource is the subresource, such as eviction, or "".
	Subresource string
	// Namespace the right is needed in; "" asks for it cluster-wide (and,
	// for a namespaced resource, in every namespace).
	Namespace string
	// Name narrows the right to one object; "" asks for every object.
	Name string
	// Why says what a run does with the right.
	Why string
}

// key identifies a check without its reason, for deduplication.
type checkKey struct {
	verb, group, resource, subresource, namespace, name string
}

func (c Check) key() checkKey {
	return checkKey{c.Verb, c.Group, c.Resource, c.Subresource, c.Namespace, c.Name}
}

// Denial is the refusal of c for user.
func (c Check) Denial(user string) *Denied {
	return &Denied{
		User:        user,
		Verb:        c.Verb,
		Group:       c.Group,
		Resource:    c.Resource,
		Subresource: c.Subresource,
		Namespace:   c.Namespace,
		Name:        c.Name,
		Why:         c.Why,
	}
}

// Describe renders c for an error message, as Denied does.
func (c Check) Describe() string {
	d := c.Denial("")
	res := d.Resource
	if d.Subresource != "" {
		res += "/" + d.Subresource
	}
	if d.Group != "" {
		res += "." + d.Group
	}
	if d.Name != "" {
		res += " " + d.Name
	}
	if d.Namespace == "" {
		return fmt.Sprintf("%s %s cluster-wide", d.Verb, res)
	}
	return fmt.Sprintf("%s %s in namespace %s", d.Verb, res, d.Namespace)
}

// istioGroup is the API group of Istio's VirtualServices.
const istioGroup = "networking.istio.io"

// workloadResources maps a workload probe's kind to its apps/v1 resource.
var workloadResources = map[chaosv1alpha1.WorkloadKind]string{
	chaosv1alpha1.WorkloadDeployment:  "deployments",
	chaosv1alpha1.WorkloadStatefulSet: "statefulsets",
	chaosv1alpha1.WorkloadDaemonSet:   "daemonsets",
}

// Required lists the rights a run of spec, an Experiment in namespace ns,
// uses, so that its requester is held to what they could do by hand. The
// list is in a stable order (the fault's rights per target namespace, then
// the probes' in spec order, then the Secret) and holds each right once.
//
// The fault's rights follow both target.kind and the fault set, so a spec
// whose two disagree (which the schema refuses, but a stored object may
// hold) is held to both rather than to neither. Rights are asked for every
// object of a kind, not the names in target.names: selection lists the
// objects, and a grant narrowed by resourceNames would let the list pick
// objects the requester could not touch.
func Required(ns string, spec *chaosv1alpha1.ExperimentSpec) []Check {
	if spec == nil {
		return nil
	}
	var out []Check
	seen := map[checkKey]bool{}
	add := func(c Check) {
		if seen[c.key()] {
			return
		}
		seen[c.key()] = true
		out = append(out, c)
	}

	targetNamespaces := spec.Target.Namespaces
	if len(targetNamespaces) == 0 {
		targetNamespaces = []string{ns}
	}
	fault := spec.Fault
	for _, f := range Faults {
		if f.Applies(spec) {
			for _, c := range f.Rights(spec, targetNamespaces) {
				add(c)
			}
		}
	}

	if spec.Remediation != nil && len(spec.Remediation.Matchers) > 0 {
		// Matchers read in the targets' namespaces; a drain's in those of
		// the pods it evicts, which may be any.
		readIn := targetNamespaces
		if spec.Target.Kind == chaosv1alpha1.TargetNode || fault.NodeDrain != nil {
			readIn = []string{""}
		}
		for _, m := range spec.Remediation.Matchers {
			for _, rns := range readIn {
				switch {
				case m.Event != nil:
					add(Check{Verb: "list", Resource: "events", Namespace: rns,
						Why: "remediation.matchers read Events to date the start of remediation"})
				case m.Created != nil:
					if group, resource, ok := createdResource(m.Created.Kind); ok {
						add(Check{Verb: "list", Group: group, Resource: resource, Namespace: rns,
							Why: fmt.Sprintf("remediation.matchers read new %ss to date the start of remediation", m.Created.Kind)})
					}
				}
			}
		}
	}

	for _, p := range spec.SteadyState.Probes {
		if p.Workload == nil {
			continue
		}
		resource, ok := workloadResources[p.Workload.Kind]
		if !ok {
			// An unknown kind cannot be probed; the probe fails on its own
			// and reads nothing.
			continue
		}
		pns := p.Workload.Namespace
		if pns == "" {
			pns = ns
		}
		add(Check{Verb: "get", Group: "apps", Resource: resource, Namespace: pns, Name: p.Workload.Name,
			Why: fmt.Sprintf("probe %q reads the workload's readiness", p.Name)})
	}

	for _, ref := range sloRefs(spec) {
		if c := sloCheck(ns, ref.ref, ref.what); c.Verb != "" {
			add(c)
		}
	}

	if spec.Provider != nil && spec.Provider.Prometheus != nil && spec.Provider.Prometheus.Auth != nil && spec.Provider.Prometheus.Auth.SecretName != "" {
		add(Check{Verb: "get", Resource: "secrets", Namespace: ns, Name: spec.Provider.Prometheus.Auth.SecretName,
			Why: "provider.prometheus.auth reads the Secret's credentials and sends them to the provider"})
	}
	return out
}

// createdResource is the API group and resource of a creation matcher's kind.
func createdResource(kind chaosv1alpha1.RemediationCreatedKind) (group, resource string, ok bool) {
	switch kind {
	case chaosv1alpha1.RemediationCreatedPod:
		return "", "pods", true
	case chaosv1alpha1.RemediationCreatedReplicaSet:
		return "apps", "replicasets", true
	case chaosv1alpha1.RemediationCreatedJob:
		return "batch", "jobs", true
	}
	return "", "", false
}

// namedSLORef is an SLO reference and what in the spec makes it.
type namedSLORef struct {
	ref  chaosv1alpha1.SLORef
	what string
}

// sloRefs lists the SLOs the probes and guards of spec reference.
func sloRefs(spec *chaosv1alpha1.ExperimentSpec) []namedSLORef {
	var out []namedSLORef
	for _, p := range spec.SteadyState.Probes {
		if p.SLO != nil {
			out = append(out, namedSLORef{p.SLO.SLORef, fmt.Sprintf("probe %q", p.Name)})
		}
	}
	if spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			if g.SLO != nil {
				out = append(out, namedSLORef{g.SLO.SLORef, fmt.Sprintf("guard %q", g.Name)})
			}
		}
	}
	return out
}

// sloCheck is the right to read the object an SLO reference names, as the
// run will: get, on that one object.
func sloCheck(ns string, ref chaosv1alpha1.SLORef, what string) Check {
	orDefault := func(n string) string {
		if n == "" {
			return ns
		}
		return n
	}
	switch {
	case ref.Sloth != nil:
		return Check{Verb: "get", Group: "sloth.slok.dev", Resource: "prometheusservicelevels", Namespace: orDefault(ref.Sloth.Namespace), Name: ref.Sloth.Name,
			Why: what + " reads the Sloth SLO's indicator and objective"}
	case ref.Pyrra != nil:
		return Check{Verb: "get", Group: "pyrra.dev", Resource: "servicelevelobjectives", Namespace: orDefault(ref.Pyrra.Namespace), Name: ref.Pyrra.Name,
			Why: what + " reads the Pyrra SLO's indicator and objective"}
	case ref.OpenSLO != nil:
		return Check{Verb: "get", Resource: "configmaps", Namespace: orDefault(ref.OpenSLO.Namespace), Name: ref.OpenSLO.ConfigMap,
			Why: what + " reads the OpenSLO document in the ConfigMap"}
	}
	return Check{}
}

// StartRunCheck is the right to start a run in ns: create on experimentruns.
func StartRunCheck(ns string) Check {
	return Check{
		Verb:      "create",
		Group:     chaosv1alpha1.GroupVersion.Group,
		Resource:  "experimentruns",
		Namespace: ns,
		Why:       "starting a run, by any path, needs the right to create ExperimentRuns",
	}
}

// ApproveCheck is the right to approve the run ns/name: the approve verb on
// experimentruns (see access.Checker.CheckApprove for how it is granted).
func ApproveCheck(ns, name string) Check {
	return Check{
		Verb:      "approve",
		Group:     chaosv1alpha1.GroupVersion.Group,
		Resource:  "experimentruns",
		Namespace: ns,
		Name:      name,
		Why:       "approving a run lets its fault be injected",
	}
}

// FaultRights is what one kind of fault declares it makes Faultline do, as
// the rights a person would need to do it by hand. Required composes them;
// the operator's own ClusterRole must hold each (a test reads
// config/rbac/role.yaml against Faults), so a fault added here without its
// RBAC marker fails before it ships.
type FaultRights struct {
	// Name is the fault's field in spec.fault.
	Name string
	// Applies says whether a spec uses this fault. It follows both
	// target.kind and the fault set, so a spec whose two disagree (which
	// the schema refuses, but a stored object may hold) is held to both
	// rather than to neither.
	Applies func(spec *chaosv1alpha1.ExperimentSpec) bool
	// Rights are the rights a run of spec needs, in its target namespaces
	// (the Experiment's own when none are named).
	Rights func(spec *chaosv1alpha1.ExperimentSpec, targetNamespaces []string) []Check
}

// Faults are the declarations of every fault Faultline injects.
var Faults = []FaultRights{
	{
		Name: "podKill",
		Applies: func(spec *chaosv1alpha1.ExperimentSpec) bool {
			return spec.Target.Kind == chaosv1alpha1.TargetPod || spec.Fault.PodKill != nil
		},
		Rights: func(spec *chaosv1alpha1.ExperimentSpec, namespaces []string) []Check {
			evict := spec.Fault.PodKill != nil && spec.Fault.PodKill.Method == chaosv1alpha1.PodKillEvict
			var out []Check
			for _, tns := range namespaces {
				if evict {
					out = append(out, Check{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: tns,
						Why: "a podKill run with method Evict evicts the pods it selects"})
				} else {
					out = append(out, Check{Verb: "delete", Resource: "pods", Namespace: tns,
						Why: "a podKill run deletes the pods it selects"})
				}
				out = append(out, Check{Verb: "list", Resource: "pods", Namespace: tns,
					Why: "a run lists pods to select its targets"})
			}
			return out
		},
	},
	{
		Name: "istio",
		Applies: func(spec *chaosv1alpha1.ExperimentSpec) bool {
			return spec.Target.Kind == chaosv1alpha1.TargetVirtualService || spec.Fault.Istio != nil
		},
		Rights: func(_ *chaosv1alpha1.ExperimentSpec, namespaces []string) []Check {
			var out []Check
			for _, tns := range namespaces {
				out = append(out,
					Check{Verb: "patch", Group: istioGroup, Resource: "virtualservices", Namespace: tns,
						Why: "an istio run patches the http routes of the VirtualServices it selects"},
					Check{Verb: "list", Group: istioGroup, Resource: "virtualservices", Namespace: tns,
						Why: "a run lists VirtualServices to select its targets"})
			}
			return out
		},
	},
	{
		Name: "nodeDrain",
		Applies: func(spec *chaosv1alpha1.ExperimentSpec) bool {
			return spec.Target.Kind == chaosv1alpha1.TargetNode || spec.Fault.NodeDrain != nil
		},
		// A drain evicts whatever runs on the node, in any namespace, so
		// the requester must be able to evict (and find) pods everywhere,
		// as `kubectl drain` by hand would need.
		Rights: func(_ *chaosv1alpha1.ExperimentSpec, _ []string) []Check {
			return []Check{
				{Verb: "patch", Resource: "nodes",
					Why: "a nodeDrain run cordons the nodes it selects and uncordons them afterwards"},
				{Verb: "create", Resource: "pods", Subresource: "eviction",
					Why: "a nodeDrain run evicts the pods on the nodes it drains, of whatever namespace"},
				{Verb: "list", Resource: "pods",
					Why: "a nodeDrain run lists the pods on the nodes it drains, of whatever namespace"},
				{Verb: "list", Resource: "nodes",
					Why: "a run lists nodes to select its targets"},
			}
		},
	},
}
