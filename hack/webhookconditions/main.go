// Command webhookconditions adds matchConditions to the webhook
// configurations controller-gen writes, which its markers cannot express.
//
// Faultline's webhooks for Experiments and runs fail closed (failurePolicy
// Fail). Without conditions every update would need the operator up, so a
// finalizer could not be removed, nor a label changed, while it is down —
// a namespace holding runs could not even be deleted. The conditions send
// to the webhooks only what they judge: creations, spec changes and
// annotation changes (requester, approval, run-now). A run's spec is
// immutable by the schema; status goes through the status subresource,
// which the webhooks never see.
//
// Usage: go run ./hack/webhookconditions config/webhook/manifests.yaml
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// annotationsChanged is true when an update adds, removes or changes any
// annotation.
const annotationsChanged = `(has(object.metadata.annotations) != has(oldObject.metadata.annotations)) || ` +
	`(has(object.metadata.annotations) && object.metadata.annotations != oldObject.metadata.annotations)`

// operatorUsername is the operator's ServiceAccount as config/manager
// installs it. hack/sync-chart.sh puts the release's namespace in its place
// in the chart.
const operatorUsername = "system:serviceaccount:faultline-system:faultline"

// notTheOperator leaves the operator's own status writes out of the status
// webhook: it writes every run's status, and must not wait on (or be
// stopped by) its own webhook to record a revert.
var notTheOperator = []admissionregistrationv1.MatchCondition{{
	Name:       "not-the-operator",
	Expression: `request.userInfo.username != '` + operatorUsername + `'`,
}}

// conditions by the resource a webhook watches.
var conditions = map[string][]admissionregistrationv1.MatchCondition{
	"experimentruns/status": notTheOperator,
	"experiments": {{
		Name:       "creations-and-spec-or-annotation-changes",
		Expression: `request.operation != 'UPDATE' || object.spec != oldObject.spec || ` + annotationsChanged,
	}},
	"experimentruns": {{
		Name:       "creations-and-annotation-changes",
		Expression: `request.operation != 'UPDATE' || ` + annotationsChanged,
	}},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: webhookconditions MANIFESTS.yaml")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "webhookconditions:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, doc := range strings.Split(string(data), "\n---\n") {
		doc = strings.TrimPrefix(strings.TrimSpace(doc), "---")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			return err
		}
		var obj any
		switch kind.Kind {
		case "MutatingWebhookConfiguration":
			c := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict([]byte(doc), c); err != nil {
				return err
			}
			for i := range c.Webhooks {
				c.Webhooks[i].MatchConditions = conditionsFor(c.Webhooks[i].Rules)
			}
			obj = c
		case "ValidatingWebhookConfiguration":
			c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict([]byte(doc), c); err != nil {
				return err
			}
			for i := range c.Webhooks {
				c.Webhooks[i].MatchConditions = conditionsFor(c.Webhooks[i].Rules)
			}
			obj = c
		default:
			return fmt.Errorf("unexpected kind %q in %s", kind.Kind, path)
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		// controller-gen's layout: a separator before each document, and no
		// empty creationTimestamp.
		out.WriteString("---\n")
		out.Write(bytes.ReplaceAll(b, []byte("  creationTimestamp: null\n"), nil))
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

func conditionsFor(rules []admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.MatchCondition {
	for _, r := range rules {
		for _, res := range r.Resources {
			if c, ok := conditions[res]; ok {
				return c
			}
		}
	}
	return nil
}
