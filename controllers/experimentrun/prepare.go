package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/compare"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/providers"
	"github.com/faultline-dev/faultline/experiments/slo"
)

// defaultSLOWindow is the error-ratio window of an slo probe that names none.
const defaultSLOWindow = time.Minute

// defaultBurnRate is the fast-burn page of the SRE workbook.
var defaultBurnRate = chaosv1alpha1.BurnRate{
	Long:   metav1.Duration{Duration: time.Hour},
	Short:  metav1.Duration{Duration: 5 * time.Minute},
	Factor: "14.4",
}

// prepare fixes, once, what a starting run derives from outside its spec:
// the queries and conditions of the SLOs its probes and guards reference,
// their remaining error budgets, and the comparison's two queries. It ends
// the run, having touched nothing, when an SLO cannot be used or has too
// little budget left. done reports that the run ended.
func (r *Reconciler) prepare(ctx context.Context, s *scope, now time.Time) (done bool, err error) {
	written := s.run.Status.Experiment
	st := &s.run.Status
	er := s.engineRun()
	if written == nil {
		return false, nil
	}
	derived, slis, err := r.deriveSLOs(ctx, s.run.Namespace, written)
	if err != nil {
		if msg, ok := sloConfigError(err); ok {
			st.SLOs = derived
			s.emit(er.Fail(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonSLOUnavailable, msg+"; nothing was injected"))
			return true, nil
		}
		return false, err
	}
	st.SLOs = derived
	if len(derived) > 0 {
		if done := r.checkErrorBudgets(ctx, s, slis, now); done {
			return true, nil
		}
	}
	if c := written.Comparison; c != nil && st.Comparison == nil {
		spec := engine.Effective(written, st)
		query := ""
		for _, p := range spec.SteadyState.Probes {
			if p.Name == c.Probe && p.Prometheus != nil {
				query = p.Prometheus.Query
			}
		}
		interval := spec.SteadyState.Interval.Duration
		exp, errExp := compare.SplitQuery(query, c.Experiment, interval)
		ctl, errCtl := compare.SplitQuery(query, c.Control, interval)
		if err := errors.Join(errExp, errCtl); err != nil || query == "" {
			if err == nil {
				err = fmt.Errorf("probe %q has no query to compare", c.Probe)
			}
			s.emit(er.Fail(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonInvalidSpec,
				fmt.Sprintf("comparison.probe %s: %v; fix the probe's query; nothing was injected", c.Probe, err)))
			return true, nil
		}
		st.Comparison = &chaosv1alpha1.ComparisonStatus{
			Probe:      c.Probe,
			Experiment: chaosv1alpha1.ComparisonGroup{Query: exp},
			Control:    chaosv1alpha1.ComparisonGroup{Query: ctl},
		}
	}
	return false, nil
}

// deriveSLOs reads every referenced SLO and derives what the run samples.
// The statuses are returned even on error, the failed one saying why; the
// SLIs match the statuses derived, one for one.
func (r *Reconciler) deriveSLOs(ctx context.Context, namespace string, spec *chaosv1alpha1.ExperimentSpec) ([]chaosv1alpha1.SLOStatus, []slo.SLI, error) {
	var out []chaosv1alpha1.SLOStatus
	var slis []slo.SLI
	for _, p := range spec.SteadyState.Probes {
		if p.SLO == nil {
			continue
		}
		st := chaosv1alpha1.SLOStatus{Name: p.Name, Kind: chaosv1alpha1.ProbeKindSteadyState}
		sli, err := providers.ResolveSLO(ctx, r.APIReader, namespace, p.SLO.SLORef)
		if err != nil {
			st.Error = err.Error()
			return append(out, st), slis, fmt.Errorf("probe %s: %w", p.Name, err)
		}
		window := defaultSLOWindow
		if p.SLO.Window != nil && p.SLO.Window.Duration > 0 {
			window = p.SLO.Window.Duration
		}
		fillSLOStatus(&st, sli)
		st.Query = sli.ErrorRatioQuery(window)
		cond := sli.ProbeCondition()
		if p.Condition != nil {
			cond = *p.Condition
		}
		st.Condition = &cond
		out, slis = append(out, st), append(slis, sli)
	}
	if spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			if g.SLO == nil {
				continue
			}
			st := chaosv1alpha1.SLOStatus{Name: g.Name, Kind: chaosv1alpha1.ProbeKindGuard}
			sli, err := providers.ResolveSLO(ctx, r.APIReader, namespace, g.SLO.SLORef)
			if err != nil {
				st.Error = err.Error()
				return append(out, st), slis, fmt.Errorf("guard %s: %w", g.Name, err)
			}
			burn := defaultBurnRate
			if g.SLO.BurnRate != nil {
				burn = *g.SLO.BurnRate
			}
			fillSLOStatus(&st, sli)
			st.Query = sli.BurnRateQuery(burn.Long.Duration, burn.Short.Duration)
			cond := slo.GuardCondition(burn.Factor)
			st.Condition = &cond
			out, slis = append(out, st), append(slis, sli)
		}
	}
	return out, slis, nil
}

func fillSLOStatus(st *chaosv1alpha1.SLOStatus, sli slo.SLI) {
	st.Source = sli.Source
	// Every digit: six significant ones would show 0.9999999 as 1.
	st.Objective = strconv.FormatFloat(sli.Objective, 'g', -1, 64)
	if sli.Period > 0 {
		st.Period = &metav1.Duration{Duration: sli.Period}
	}
}

// checkErrorBudgets measures each SLO's remaining error budget and ends
// the run Inconclusive when one is below steadyState.requireErrorBudget.
// Without that requirement the figures are recorded when Prometheus
// answers, and an unanswered query is no reason to stop.
func (r *Reconciler) checkErrorBudgets(ctx context.Context, s *scope, slis []slo.SLI, now time.Time) (done bool) {
	st := &s.run.Status
	written := st.Experiment
	required, hasRequirement := engine.ParsePercent(written.SteadyState.RequireErrorBudget)
	sampler, err := r.samplerFor(ctx, s.run)
	er := s.engineRun()
	if err != nil || sampler.Metrics == nil {
		if !hasRequirement {
			return false
		}
		if err == nil {
			err = providers.ErrNoProvider
		}
		s.emit(er.Fail(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonProbeUnavailable,
			fmt.Sprintf("the error budgets steadyState.requireErrorBudget checks could not be measured: %v; nothing was injected", err)))
		return true
	}
	var low []string
	seen := map[string]float64{}
	for i := range st.SLOs {
		d := &st.SLOs[i]
		query := slis[i].BudgetRemainingQuery()
		remaining, ok := seen[query]
		if !ok {
			v, err := sampler.Metrics.Query(ctx, query, now)
			if err != nil || math.IsNaN(v) {
				if hasRequirement {
					if err == nil {
						err = errors.New("the budget query answered NaN (no events in the period)")
					}
					s.emit(er.Fail(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonProbeUnavailable,
						fmt.Sprintf("the error budget of %s %s could not be measured: %v; nothing was injected", strings.ToLower(string(d.Kind)), d.Name, err)))
					return true
				}
				continue
			}
			remaining, seen[query] = v, v
		}
		d.ErrorBudgetRemaining = formatPercent(remaining)
		if hasRequirement && remaining < required {
			period := ""
			if d.Period != nil {
				period = " " + d.Period.Duration.String()
			}
			low = append(low, fmt.Sprintf("%s (%s) has %s of its%s error budget left", d.Name, d.Source, d.ErrorBudgetRemaining, period))
		}
	}
	if len(low) > 0 {
		s.emit(er.Fail(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonErrorBudgetLow,
			fmt.Sprintf("%s, below steadyState.requireErrorBudget %s; nothing was injected", strings.Join(low, "; "), written.SteadyState.RequireErrorBudget)))
		return true
	}
	return false
}

// sloConfigError says whether err is one only a change fixes: the object
// or its kind is missing, the operator may not read it, or it does not
// describe a usable SLO. Any other answer of the API server, and a failed
// connection, is transient and retried.
func sloConfigError(err error) (string, bool) {
	if errors.Is(err, providers.ErrSLOKindNotInstalled) || errors.Is(err, providers.ErrSLONotFound) || errors.Is(err, providers.ErrSLOInvalid) ||
		apierrors.IsNotFound(err) || meta.IsNoMatchError(err) || apierrors.IsForbidden(err) {
		return err.Error(), true
	}
	if _, ok := errors.AsType[*apierrors.StatusError](err); ok {
		return "", false
	}
	if _, ok := errors.AsType[net.Error](err); ok || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "", false
	}
	return err.Error(), true
}

// formatPercent writes a share as a percentage with one decimal: 0.6321 as
// "63.2%".
func formatPercent(v float64) string {
	return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
}
