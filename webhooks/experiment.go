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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/experiments/schedule"
	"github.com/faultline-dev/faultline/internal/access"
	"github.com/faultline-dev/faultline/internal/stored"
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
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return badRequest(fmt.Sprintf("the Experiment's metadata cannot be read (%v): send a well-formed Experiment", err))
	}
	requestedBy := annotationsPath.Key(chaosv1alpha1.RequestedByAnnotation)
	requester := rights.FromUserInfo(req.UserInfo)
	switch req.Operation {
	case admissionv1.Create:
	case admissionv1.Update:
		oldMeta, err := decodeMeta(req.OldObject.Raw)
		if err != nil {
			return admission.Allowed("")
		}
		if !specChanged[chaosv1alpha1.ExperimentSpec](req.OldObject.Raw, req.Object.Raw) {
			// Metadata-only updates (run-now, labels, finalizers) are never
			// refused over the spec: the operator and the owner must always
			// be able to annotate, fix or delete an object stored before a
			// rule existed.
			errs := runNowErrors(oldMeta.Annotations, meta.Annotations)
			if !ptrEqual(annotationValue(oldMeta.Annotations, chaosv1alpha1.RequestedByAnnotation), annotationValue(meta.Annotations, chaosv1alpha1.RequestedByAnnotation)) {
				errs = append(errs, field.Forbidden(requestedBy, "records who last changed the spec and cannot be changed by hand: leave it as it is"))
			}
			if len(errs) > 0 {
				return invalid(req, errs)
			}
			return v.checkRunNow(ctx, req, oldMeta.Annotations, meta.Annotations, requester)
		}
	default:
		return admission.Allowed("")
	}

	var errs field.ErrorList
	if got := meta.Annotations[chaosv1alpha1.RequestedByAnnotation]; got != requester.Annotation() {
		errs = append(errs, field.Forbidden(requestedBy, "is written by Faultline's admission webhook from the API server's account of the requesting user and cannot be set by hand: remove it"))
	}
	// A spec change checks the run-now value as on create: the ratchet
	// that lets an unchanged bad value through is for metadata-only
	// updates.
	errs = append(errs, runNowErrors(nil, meta.Annotations)...)
	errs = append(errs, specControls(req.Object.Raw)...)
	if len(errs) > 0 {
		// Every later message would quote the same characters again.
		return invalid(req, errs)
	}

	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(req.Object.Raw, exp); err != nil {
		return badRequest(fmt.Sprintf("the Experiment cannot be read (%v): fix the field named and apply it again", err))
	}
	spec := &exp.Spec
	errs = validateExperimentSpec(spec, req.Namespace)
	if len(errs) == 0 {
		errs = validateScheduleInWindows(spec, v.clock.Now())
	}
	providerErrs, err := v.checkProvider(ctx, spec)
	if err != nil {
		return unavailable(err.Error())
	}
	errs = append(errs, providerErrs...)
	if len(errs) > 0 || v.access == nil {
		return invalid(req, errs)
	}
	if spec.Schedule != "" {
		// Scheduled runs are started on the author's behalf: the author
		// must be allowed to start runs.
		err = v.access.CheckStartRun(ctx, requester, req.Namespace)
	}
	if err == nil {
		err = v.access.CheckExperiment(ctx, requester, req.Namespace, spec)
	}
	if msg, transient := rightsProblem(err, requester.Username, "do what this Experiment does"); msg != "" {
		return rightsRefusal(req, msg, transient)
	}
	return admission.Allowed("")
}

// checkRunNow refuses a run-now request from a user who could not do by
// hand what the run would do. The operator creates that run and it acts
// with the Experiment owner's rights: without this check anyone who may
// annotate an Experiment could borrow its owner's reach into other
// namespaces. A spec that does not decode is let through: its run ends
// Error on its own.
func (v *experimentValidator) checkRunNow(ctx context.Context, req admission.Request, oldAnn, newAnn map[string]string, requester rights.Requester) admission.Response {
	token, ok := newAnn[chaosv1alpha1.RunNowAnnotation]
	if v.access == nil || !ok || token == "" {
		return admission.Allowed("")
	}
	if old, had := oldAnn[chaosv1alpha1.RunNowAnnotation]; had && old == token {
		return admission.Allowed("")
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := json.Unmarshal(req.OldObject.Raw, exp); err != nil {
		return admission.Allowed("")
	}
	// The run this asks for is the requester's own: they need the right to
	// start runs at all, and every right the run uses.
	err := v.access.CheckStartRun(ctx, requester, req.Namespace)
	if err == nil {
		err = v.access.CheckExperiment(ctx, requester, req.Namespace, &exp.Spec)
	}
	if msg, transient := rightsProblem(err, requester.Username, "run Experiment "+req.Name+" now"); msg != "" {
		return rightsRefusal(req, msg, transient)
	}
	return admission.Allowed("")
}

// providerAddressPath is the field checkProvider and the offline check
// refuse addresses on.
var providerAddressPath = field.NewPath("spec", "provider", "prometheus", "address")

// checkProvider refuses a provider address that does not parse or that the
// ChaosPolicy does not allow, read live so a change to the allow-list holds
// at once. err is a failure to read the ChaosPolicy that trying again may
// cure.
func (v *experimentValidator) checkProvider(ctx context.Context, spec *chaosv1alpha1.ExperimentSpec) (field.ErrorList, error) {
	if spec.Provider == nil || spec.Provider.Prometheus == nil {
		return nil, nil
	}
	address := spec.Provider.Prometheus.Address
	if e := addressFormError(address); e != nil {
		return field.ErrorList{e}, nil
	}
	// Without a policy, policy.ProviderAllowed explains that nothing is allowed.
	pol, err := getPolicy(ctx, v.reader)
	if err != nil {
		if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
			return field.ErrorList{field.Forbidden(providerAddressPath, fmt.Sprintf("the ChaosPolicy %q cannot be read, so no provider address can be allowed: ask a cluster administrator to fix it (%v)", chaosv1alpha1.DefaultPolicyName, malformed.Err))}, nil
		}
		return nil, fmt.Errorf("%s: could not read the ChaosPolicy %q to check the address (%v): try again", providerAddressPath, chaosv1alpha1.DefaultPolicyName, err)
	}
	if err := policy.ProviderAllowed(pol, address); err != nil {
		// The allow-list is the set of supported values.
		return field.ErrorList{notSupported(providerAddressPath, address, addressDetail(address, err))}, nil
	}
	return nil, nil
}

// addressFormError refuses a provider address that is not a plain http or
// https URL, or nil.
func addressFormError(address string) *field.Error {
	if err := policy.ValidateAddress(address); err != nil {
		return field.Invalid(providerAddressPath, address, addressDetail(address, err))
	}
	return nil
}

// addressDetail is the message of an error of the policy package about
// address without its leading `provider address "..."`, which the field
// error already quotes as its value.
func addressDetail(address string, err error) string {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, fmt.Sprintf("provider address %q", address))
	if !ok {
		return msg
	}
	return strings.TrimPrefix(strings.TrimSpace(rest), ": ")
}

// validateExperimentSpec checks what the schema cannot: cron, time zone,
// windows, label selectors, names, PromQL and alert names. It reads no
// cluster state.
func validateExperimentSpec(spec *chaosv1alpha1.ExperimentSpec, namespace string) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := schedule.ValidateSpec(spec, specPath)
	errs = append(errs, validateTarget(&spec.Target, specPath.Child("target"))...)
	for i, probe := range spec.SteadyState.Probes {
		path := specPath.Child("steadyState", "probes").Index(i)
		if probe.Prometheus != nil {
			errs = append(errs, validateQuery(path.Child("prometheus", "query"), probe.Prometheus.Query)...)
		}
		if w := probe.Workload; w != nil {
			if why := dnsSubdomain(w.Name); why != "" {
				errs = append(errs, field.Invalid(path.Child("workload", "name"), w.Name,
					fmt.Sprintf("is not a valid object name (%s): write the %s's name, such as checkout", why, w.Kind)))
			}
			if w.Namespace != "" {
				if why := dnsLabel(w.Namespace); why != "" {
					errs = append(errs, field.Invalid(path.Child("workload", "namespace"), w.Namespace,
						fmt.Sprintf("is not a valid namespace name (%s): write a namespace such as shop, or leave it out for the Experiment's own", why)))
				}
			}
		}
	}
	if spec.Abort != nil {
		for i, g := range spec.Abort.Guards {
			if g.SLO == nil {
				errs = append(errs, validateQuery(specPath.Child("abort", "guards").Index(i).Child("prometheus", "query"), g.Prometheus.Query)...)
			}
		}
	}
	errs = append(errs, validateJudgement(spec, specPath)...)
	if spec.Detection != nil {
		for i, a := range spec.Detection.Alerts {
			errs = append(errs, validateAlertName(specPath.Child("detection", "alerts").Index(i), a)...)
		}
	}
	if spec.Remediation != nil {
		for i, m := range spec.Remediation.Matchers {
			if m.Created != nil {
				// The schema bounds the selector; its keys' and values' syntax
				// is checked here, or it would match nothing at run time.
				errs = append(errs, validateSelector(&m.Created.Selector, specPath.Child("remediation", "matchers").Index(i).Child("created", "selector"))...)
			}
		}
	}
	if spec.Provider != nil && spec.Provider.Prometheus != nil && spec.Provider.Prometheus.Auth != nil {
		name := spec.Provider.Prometheus.Auth.SecretName
		if why := dnsSubdomain(name); why != "" {
			errs = append(errs, field.Invalid(specPath.Child("provider", "prometheus", "auth", "secretName"), name,
				fmt.Sprintf("is not a valid Secret name (%s): write the name of a Secret in namespace %s, such as prometheus-token", why, namespace)))
		}
	}
	return errs
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
func validateScheduleInWindows(spec *chaosv1alpha1.ExperimentSpec, now time.Time) field.ErrorList {
	if spec.Schedule == "" || len(spec.Windows) == 0 || strings.HasPrefix(strings.TrimSpace(spec.Schedule), "@every") {
		return nil
	}
	sched, err := schedule.Parse(spec.Schedule, spec.TimeZone)
	if err != nil {
		return nil // reported by schedule.ValidateSpec
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
			return nil
		}
	}
	return field.ErrorList{field.Invalid(field.NewPath("spec", "schedule"), spec.Schedule,
		fmt.Sprintf("never fires inside spec.windows (read in time zone %s), so every scheduled run would be skipped: schedule it inside a window, such as %s, or widen spec.windows",
			loc, windowExample(spec.Windows[0])))}
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

func validateTarget(t *chaosv1alpha1.TargetSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ns := range t.Namespaces {
		if why := dnsLabel(ns); why != "" {
			errs = append(errs, field.Invalid(path.Child("namespaces").Index(i), ns,
				fmt.Sprintf("is not a valid namespace name (%s): write a namespace such as shop", why)))
		}
	}
	for i, n := range t.Names {
		if why := dnsSubdomain(n); why != "" {
			errs = append(errs, field.Invalid(path.Child("names").Index(i), n,
				fmt.Sprintf("is not a valid object name (%s): write the name of a %s, such as checkout", why, t.Kind)))
		}
	}
	if t.Selector != nil {
		errs = append(errs, validateSelector(t.Selector, path.Child("selector"))...)
		if len(t.Selector.MatchLabels) == 0 && len(t.Selector.MatchExpressions) == 0 && len(t.Names) == 0 {
			errs = append(errs, field.Required(path.Child("selector"),
				fmt.Sprintf("is empty and would select every %s in the target namespaces: write matchLabels, such as {app: checkout}, or list spec.target.names", t.Kind)))
		}
	}
	return errs
}

// selectorHint says what a valid label selector looks like.
const selectorHint = `write matchLabels such as {app: checkout}, or matchExpressions such as [{key: app, operator: In, values: [checkout]}] (operators In, NotIn, Exists, DoesNotExist)`

// validateSelector refuses a label selector the API server would refuse in
// a list call, which would otherwise fail every run at target selection.
// The errors are the API server's own, with what to write added.
func validateSelector(sel *metav1.LabelSelector, path *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	for _, e := range errs {
		if e.Detail != "" {
			e.Detail += ": "
		}
		e.Detail += selectorHint
	}
	if len(errs) > 0 {
		return errs
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return field.ErrorList{invalidNoValue(path, fmt.Sprintf("%v: %s", err, selectorHint))}
	}
	return nil
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
func validateQuery(path *field.Path, query string) field.ErrorList {
	if strings.TrimSpace(query) == "" {
		return field.ErrorList{field.Required(path, queryHint)}
	}
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		return field.ErrorList{field.Invalid(path, query, fmt.Sprintf("does not parse: %s: %s", firstParseError(err), queryHint))}
	}
	switch expr.Type() {
	case parser.ValueTypeMatrix:
		return field.ErrorList{field.Invalid(path, query, fmt.Sprintf("returns a range vector, not a number: aggregate it, such as sum(rate(%s))", strings.TrimSpace(query)))}
	case parser.ValueTypeString:
		return field.ErrorList{field.Invalid(path, query, "returns a string, not a number: "+queryHint)}
	}
	return nil
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
func validateAlertName(path *field.Path, name string) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(path, "write the alert's name as in its rule's alert: field, such as CheckoutAvailabilityLow")}
	case strings.ContainsFunc(name, unicode.IsSpace) || strings.Contains(name, ","):
		return field.ErrorList{field.Invalid(path, name, "is not one alert name: write each alert as its own item, such as alerts: [CheckoutAvailabilityLow, CheckoutLatencyHigh]")}
	case strings.ContainsAny(name, `{}"=~`):
		return field.ErrorList{field.Invalid(path, name, "is a selector, not an alert name: write only the alert's name, such as CheckoutAvailabilityLow")}
	case !alertName.MatchString(name):
		return field.ErrorList{field.Invalid(path, name, "is not an alert name Faultline accepts: write the name of the rule's alert: field using only letters, digits, '_', ':', '-' and '.', starting with a letter, '_' or ':' (no markup, links or other symbols), such as CheckoutAvailabilityLow")}
	}
	return nil
}

// alertName is the alert names Faultline accepts. Prometheus 3 takes any
// UTF-8 text as an alert name, but names are shown in reports, events and
// HTML, and compared with what a reviewer read: this is the metric-name
// grammar that alert names use in practice, with '-' and '.', and without
// the brackets, angle brackets and invisible characters that would carry
// a Markdown link, an HTML tag or a lookalike.
var alertName = regexp.MustCompile(`^[A-Za-z_:][A-Za-z0-9_:.-]*$`)
