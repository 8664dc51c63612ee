package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/prometheus/promql/parser"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/schedule"
	"github.com/faultline-dev/faultline/webhooks/access"
)

// experimentValidator refuses Experiments the schema lets through but that
// could never run as written, and those whose requester lacks the rights
// their runs would use.
type experimentValidator struct {
	reader client.Reader
	access *access.Checker
	// clock gives the instant the schedule-against-windows check starts
	// from.
	clock clock.PassiveClock
}

// Handle implements admission.Handler.
func (v *experimentValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	var p problems
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return admission.Denied(fmt.Sprintf("the Experiment's metadata cannot be read (%v): send a well-formed Experiment", err))
	}
	requester := access.FromUserInfo(req.UserInfo)
	switch req.Operation {
	case admissionv1.Create:
	case admissionv1.Update:
		oldMeta, err := decodeMeta(req.OldObject.Raw)
		if err != nil {
			return admission.Allowed("")
		}
		runNowProblems(&p, oldMeta.Annotations, meta.Annotations)
		if !specChanged[chaosv1alpha1.ExperimentSpec](req.OldObject.Raw, req.Object.Raw) {
			// Metadata-only updates (run-now, labels, finalizers) are never
			// refused over the spec: the operator and the owner must always
			// be able to annotate, fix or delete an object stored before a
			// rule existed.
			if !ptrEqual(annotationValue(oldMeta.Annotations, chaosv1alpha1.RequestedByAnnotation), annotationValue(meta.Annotations, chaosv1alpha1.RequestedByAnnotation)) {
				p.addf("metadata.annotations[%s] records who last changed the spec and cannot be changed by hand: leave it as it is", chaosv1alpha1.RequestedByAnnotation)
			}
			v.checkRunNow(ctx, &p, req, oldMeta.Annotations, meta.Annotations, requester)
			return p.response()
		}
	default:
		return admission.Allowed("")
	}

	if got := meta.Annotations[chaosv1alpha1.RequestedByAnnotation]; got != requester.Annotation() {
		p.addf("metadata.annotations[%s] is written by Faultline's admission webhook from the API server's account of the requesting user and cannot be set by hand: remove it", chaosv1alpha1.RequestedByAnnotation)
	}
	runNowProblems(&p, nil, meta.Annotations)
	specControls(&p, req.Object.Raw)
	if len(p) > 0 {
		// Every later message would quote the same characters again.
		return p.response()
	}

	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(req.Object.Raw, exp); err != nil {
		return admission.Denied(fmt.Sprintf("the Experiment cannot be read (%v): fix the field named and apply it again", err))
	}
	spec := &exp.Spec
	validateExperimentSpec(&p, spec, req.Namespace)
	if len(p) == 0 {
		validateScheduleInWindows(&p, spec, v.clock.Now())
	}
	v.checkProvider(ctx, &p, spec)
	if len(p) > 0 {
		return p.response()
	}
	if v.access != nil {
		var err error
		if spec.Schedule != "" {
			// Scheduled runs are started on the author's behalf: the
			// author must be allowed to start runs.
			err = v.access.CheckStartRun(ctx, requester, req.Namespace)
		}
		if err == nil {
			err = v.access.CheckExperiment(ctx, requester, req.Namespace, spec)
		}
		if msg := rightsProblem(err, requester.Username, "do what this Experiment does"); msg != "" {
			p.addf("%s", msg)
		}
	}
	return p.response()
}

// checkRunNow refuses a run-now request from a user who could not do by
// hand what the run would do. The operator creates that run and it acts
// with the Experiment owner's rights: without this check anyone who may
// annotate an Experiment could borrow its owner's reach into other
// namespaces. A spec that does not decode is let through: its run ends
// Error on its own.
func (v *experimentValidator) checkRunNow(ctx context.Context, p *problems, req admission.Request, oldAnn, newAnn map[string]string, requester access.Requester) {
	token, ok := newAnn[chaosv1alpha1.RunNowAnnotation]
	if v.access == nil || !ok || token == "" {
		return
	}
	if old, had := oldAnn[chaosv1alpha1.RunNowAnnotation]; had && old == token {
		return
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(req.OldObject.Raw, exp); err != nil {
		return
	}
	// The run this asks for is the requester's own: they need the right to
	// start runs at all, and every right the run uses.
	err := v.access.CheckStartRun(ctx, requester, req.Namespace)
	if err == nil {
		err = v.access.CheckExperiment(ctx, requester, req.Namespace, &exp.Spec)
	}
	if msg := rightsProblem(err, requester.Username, "run Experiment "+req.Name+" now"); msg != "" {
		p.addf("%s", msg)
	}
}

// checkProvider refuses a provider address that does not parse or that the
// ChaosPolicy does not allow, read live so a change to the allow-list holds
// at once.
func (v *experimentValidator) checkProvider(ctx context.Context, p *problems, spec *chaosv1alpha1.ExperimentSpec) {
	if spec.Provider == nil || spec.Provider.Prometheus == nil {
		return
	}
	address := spec.Provider.Prometheus.Address
	if err := policy.ValidateAddress(address); err != nil {
		p.addf("spec.provider.prometheus.address: %v", err)
		return
	}
	pol, err := getPolicy(ctx, v.reader)
	switch {
	case apierrors.IsNotFound(err):
		pol = nil // policy.ProviderAllowed explains that nothing is allowed
	case err != nil:
		var malformed *malformedError
		if errors.As(err, &malformed) {
			p.addf("spec.provider.prometheus.address: the ChaosPolicy %q cannot be read, so no provider address can be allowed: ask a cluster administrator to fix it (%v)", chaosv1alpha1.DefaultPolicyName, malformed.err)
			return
		}
		p.addf("spec.provider.prometheus.address: could not read the ChaosPolicy %q to check the address (%v): try again", chaosv1alpha1.DefaultPolicyName, err)
		return
	}
	if err := policy.ProviderAllowed(pol, address); err != nil {
		p.addf("spec.provider.prometheus.address: %v", err)
	}
}

// validateExperimentSpec checks what the schema cannot: cron, time zone,
// windows, label selectors, names, PromQL and alert names. It reads no
// cluster state.
func validateExperimentSpec(p *problems, spec *chaosv1alpha1.ExperimentSpec, namespace string) {
	for _, e := range schedule.ValidateSpec(spec, field.NewPath("spec")) {
		p.addf("%s", e.Error())
	}
	validateTarget(p, &spec.Target)
	for i, probe := range spec.SteadyState.Probes {
		path := fmt.Sprintf("spec.steadyState.probes[%d]", i)
		if probe.Prometheus != nil {
			validateQuery(p, path+".prometheus.query", probe.Prometheus.Query)
		}
		if w := probe.Workload; w != nil {
			if why := dnsSubdomain(w.Name); why != "" {
				p.addf("%s.workload.name %s is not a valid object name (%s): write the %s's name, such as checkout", path, quote(w.Name), why, w.Kind)
			}
			if w.Namespace != "" {
				if why := dnsLabel(w.Namespace); why != "" {
					p.addf("%s.workload.namespace %s is not a valid namespace name (%s): write a namespace such as shop, or leave it out for the Experiment's own", path, quote(w.Namespace), why)
				}
			}
		}
	}
	if spec.Abort != nil {
		for i, g := range spec.Abort.Guards {
			if g.SLO == nil {
				validateQuery(p, fmt.Sprintf("spec.abort.guards[%d].prometheus.query", i), g.Prometheus.Query)
			}
		}
	}
	validateJudgement(p, spec)
	if spec.Detection != nil {
		for i, a := range spec.Detection.Alerts {
			validateAlertName(p, fmt.Sprintf("spec.detection.alerts[%d]", i), a)
		}
	}
	if spec.Remediation != nil {
		for i, m := range spec.Remediation.Matchers {
			if m.Created != nil {
				// The schema bounds the selector; its keys' and values' syntax
				// is checked here, or it would match nothing at run time.
				validateSelector(p, &m.Created.Selector, field.NewPath("spec", "remediation", "matchers").Index(i).Child("created", "selector"))
			}
		}
	}
	if spec.Provider != nil && spec.Provider.Prometheus != nil && spec.Provider.Prometheus.Auth != nil {
		name := spec.Provider.Prometheus.Auth.SecretName
		if why := dnsSubdomain(name); why != "" {
			p.addf("spec.provider.prometheus.auth.secretName %s is not a valid Secret name (%s): write the name of a Secret in namespace %s, such as prometheus-token", quote(name), why, namespace)
		}
	}
}

// scheduleSearch bounds how far validateScheduleInWindows looks for a
// scheduled time inside the windows: a year covers every combination of
// weekly windows with monthly and yearly cron fields, and the firing cap
// keeps an every-minute schedule cheap.
const (
	scheduleSearch      = 366 * 24 * time.Hour
	scheduleSearchFires = 20000
)

// validateScheduleInWindows refuses a schedule none of whose times falls
// inside the windows: every scheduled run would be skipped, and the
// Experiment would sit there looking scheduled and never run.
func validateScheduleInWindows(p *problems, spec *chaosv1alpha1.ExperimentSpec, now time.Time) {
	if spec.Schedule == "" || len(spec.Windows) == 0 || strings.HasPrefix(strings.TrimSpace(spec.Schedule), "@every") {
		return
	}
	sched, err := schedule.Parse(spec.Schedule, spec.TimeZone)
	if err != nil {
		return // reported by validateSchedule
	}
	loc := sched.Location()
	end := now.Add(scheduleSearch)
	at := now
	for range scheduleSearchFires {
		at = schedule.Next(sched, at)
		if at.IsZero() || at.After(end) {
			break
		}
		if schedule.InWindows(spec.Windows, loc, at) {
			return
		}
	}
	p.addf("spec.schedule %s never fires inside spec.windows (read in time zone %s), so every scheduled run would be skipped: schedule it inside a window, such as %s, or widen spec.windows",
		quote(spec.Schedule), loc, windowExample(spec.Windows[0]))
}

// windowExample is a cron schedule that fires inside w, for messages.
func windowExample(w chaosv1alpha1.TimeWindow) string {
	hour, minute := w.Start[:2], w.Start[3:]
	days := "*"
	if len(w.Days) > 0 {
		names := make([]string, len(w.Days))
		for i, d := range w.Days {
			names[i] = strings.ToUpper(string(d))
		}
		days = strings.Join(names, ",")
	}
	return fmt.Sprintf("%q", fmt.Sprintf("%s %s * * %s", strings.TrimPrefix(minute, "0"), strings.TrimPrefix(hour, "0"), days))
}

func validateTarget(p *problems, t *chaosv1alpha1.TargetSpec) {
	for i, ns := range t.Namespaces {
		if why := dnsLabel(ns); why != "" {
			p.addf("spec.target.namespaces[%d] %s is not a valid namespace name (%s): write a namespace such as shop", i, quote(ns), why)
		}
	}
	for i, n := range t.Names {
		if why := dnsSubdomain(n); why != "" {
			p.addf("spec.target.names[%d] %s is not a valid object name (%s): write the name of a %s, such as checkout", i, quote(n), why, t.Kind)
		}
	}
	if t.Selector != nil {
		validateSelector(p, t.Selector, field.NewPath("spec", "target", "selector"))
		if len(t.Selector.MatchLabels) == 0 && len(t.Selector.MatchExpressions) == 0 && len(t.Names) == 0 {
			p.addf("spec.target.selector is empty and would select every %s in the target namespaces: write matchLabels, such as {app: checkout}, or list spec.target.names", t.Kind)
		}
	}
}

// selectorHint says what a valid label selector looks like.
const selectorHint = `write matchLabels such as {app: checkout}, or matchExpressions such as [{key: app, operator: In, values: [checkout]}] (operators In, NotIn, Exists, DoesNotExist)`

// validateSelector refuses a label selector the API server would refuse in
// a list call, which would otherwise fail every run at target selection.
func validateSelector(p *problems, sel *metav1.LabelSelector, path *field.Path) {
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	for _, e := range errs {
		p.addf("%s: %s", e.Error(), selectorHint)
	}
	if len(errs) > 0 {
		return
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		p.addf("%s: %v: %s", path, err, selectorHint)
	}
}

// promQL parses probe and guard queries. Experimental functions are
// accepted: whether they are enabled is the Prometheus server's setting,
// and refusing them here would refuse queries that work.
var promQL = parser.NewParser(parser.Options{EnableExperimentalFunctions: true})

// queryHint is an example of a query that returns one number.
const queryHint = `write a PromQL expression that returns one number, such as sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))`

// validateQuery refuses a query Prometheus would refuse, or one that cannot
// return the single number a probe compares, so the mistake is found when
// the Experiment is written rather than halfway through a game day.
func validateQuery(p *problems, path, query string) {
	if strings.TrimSpace(query) == "" {
		p.addf("%s is empty: %s", path, queryHint)
		return
	}
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		p.addf("%s %s does not parse: %s: %s", path, quote(query), firstParseError(err), queryHint)
		return
	}
	switch expr.Type() {
	case parser.ValueTypeMatrix:
		p.addf("%s %s returns a range vector, not a number: aggregate it, such as sum(rate(%s))", path, quote(query), strings.TrimSpace(query))
	case parser.ValueTypeString:
		p.addf("%s %s returns a string, not a number: %s", path, quote(query), queryHint)
	}
}

// firstParseError returns the parser's first message, "line:col: parse
// error: ..." with the position in the query.
func firstParseError(err error) string {
	var errs parser.ParseErrors
	if errors.As(err, &errs) && len(errs) > 0 {
		return errs[0].Error()
	}
	return err.Error()
}

// validateAlertName refuses what cannot be the name of one alert: the
// detection query matches ALERTS{alertname=...} exactly, so a list written
// as one string, or a selector, would never match and the run would report
// the alert as never firing. Beyond those, a name must be of alertName's
// plain alphabet.
func validateAlertName(p *problems, path, name string) {
	switch {
	case name == "":
		p.addf("%s is empty: write the alert's name as in its rule's alert: field, such as CheckoutAvailabilityLow", path)
	case strings.ContainsFunc(name, unicode.IsSpace) || strings.Contains(name, ","):
		p.addf("%s %s is not one alert name: write each alert as its own item, such as alerts: [CheckoutAvailabilityLow, CheckoutLatencyHigh]", path, quote(name))
	case strings.ContainsAny(name, `{}"=~`):
		p.addf("%s %s is a selector, not an alert name: write only the alert's name, such as CheckoutAvailabilityLow", path, quote(name))
	case !alertName.MatchString(name):
		p.addf("%s %s is not an alert name Faultline accepts: write the name of the rule's alert: field using only letters, digits, '_', ':', '-' and '.', starting with a letter, '_' or ':' (no markup, links or other symbols), such as CheckoutAvailabilityLow", path, quote(name))
	}
}

// alertName is the alert names Faultline accepts. Prometheus 3 takes any
// UTF-8 text as an alert name, but names are shown in reports, events and
// HTML, and compared with what a reviewer read: this is the metric-name
// grammar that alert names use in practice, with '-' and '.', and without
// the brackets, angle brackets and invisible characters that would carry
// a Markdown link, an HTML tag or a lookalike.
var alertName = regexp.MustCompile(`^[A-Za-z_:][A-Za-z0-9_:.-]*$`)

// splitJoined splits an errors.Join error into its parts.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}
