// The mirror of Pyrra's object below is not an API Faultline serves: no CRD
// is generated from this package.
// +kubebuilder:skip

package slo

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PyrraServiceLevelObjective mirrors the fields Faultline reads of Pyrra's
// ServiceLevelObjective (pyrra.dev/v1alpha1). Pyrra's Go module is not
// importable here, and its API package pulls in Pyrra's controllers; these
// few fields, decoded from the object as the API server returns it, are all
// the SLI needs. Fields Faultline does not read are ignored when decoding.
type PyrraServiceLevelObjective struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PyrraSpec `json:"spec"`
}

// PyrraSpec is the part of a ServiceLevelObjective's spec Faultline reads.
type PyrraSpec struct {
	// Target is the objective as a percentage written as a string, such as
	// "99.9".
	Target string `json:"target"`
	// Window is the period, a Prometheus duration such as "4w" or "28d".
	Window string `json:"window"`
	// Indicator is the SLI; one of its fields is set.
	Indicator PyrraIndicator `json:"indicator"`
}

// PyrraIndicator is a ServiceLevelObjective's indicator.
type PyrraIndicator struct {
	// Ratio counts errors among all requests.
	Ratio *PyrraRatio `json:"ratio,omitempty"`
	// Latency counts requests faster than a histogram bucket among all.
	Latency *PyrraLatency `json:"latency,omitempty"`
	// LatencyNative counts requests faster than Latency in a native
	// histogram.
	LatencyNative *PyrraLatencyNative `json:"latencyNative,omitempty"`
	// BoolGauge is a gauge that is 1 while good and 0 while bad.
	BoolGauge *PyrraQuery `json:"bool_gauge,omitempty"`
}

// PyrraRatio is a ratio indicator: errors over total.
type PyrraRatio struct {
	Errors PyrraQuery `json:"errors"`
	Total  PyrraQuery `json:"total"`
}

// PyrraLatency is a latency indicator: success (a histogram bucket) over
// total (its count).
type PyrraLatency struct {
	Success PyrraQuery `json:"success"`
	Total   PyrraQuery `json:"total"`
}

// PyrraLatencyNative is a latency indicator on a native histogram.
type PyrraLatencyNative struct {
	Total PyrraQuery `json:"total"`
	// Latency the requests should be faster than, such as "100ms".
	Latency string `json:"latency"`
}

// PyrraQuery is one of Pyrra's metrics: a series selector such as
// http_requests_total{job="checkout",code=~"5.."}.
type PyrraQuery struct {
	Metric string `json:"metric"`
}

// FromPyrra derives the SLI of a Pyrra ServiceLevelObjective, with the
// error ratio Pyrra's own recording rules compute:
//
//	ratio:         sum(rate(errors[w])) / sum(rate(total[w]))
//	latency:       1 - sum(rate(success[w])) / sum(rate(total[w]))
//	latencyNative: 1 - histogram_fraction(0, latency, sum(rate(total[w])))
//	bool_gauge:    1 - sum(sum_over_time(metric[w])) / sum(count_over_time(metric[w]))
//
// An indicator's grouping is not applied: the run judges the SLO as a whole,
// one number per sample, summed over every group.
func FromPyrra(obj *PyrraServiceLevelObjective) (SLI, error) {
	what := fmt.Sprintf("ServiceLevelObjective %s/%s", obj.Namespace, obj.Name)
	source := PyrraKind.GroupVersion().String() + " " + what

	target, err := strconv.ParseFloat(strings.TrimSpace(obj.Spec.Target), 64)
	if err != nil {
		return SLI{}, fmt.Errorf("%s: spec.target %q is not a number; write a percentage as a string, such as \"99.9\"", what, obj.Spec.Target)
	}
	if target > 0 && target < 1 {
		return SLI{}, fmt.Errorf("%s: spec.target %q reads as %v%%; Pyrra's target is a percentage: write %q", what, obj.Spec.Target, target, strconv.FormatFloat(target*100, 'f', -1, 64))
	}
	window, err := model.ParseDuration(strings.TrimSpace(obj.Spec.Window))
	if err != nil || window <= 0 {
		return SLI{}, fmt.Errorf("%s: spec.window %q is not a duration; write one such as \"28d\" or \"4w\"", what, obj.Spec.Window)
	}

	var errorRatio string
	ind := obj.Spec.Indicator
	set := 0
	for _, isSet := range []bool{ind.Ratio != nil, ind.Latency != nil, ind.LatencyNative != nil, ind.BoolGauge != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return SLI{}, fmt.Errorf("%s: spec.indicator sets %d of ratio, latency, latencyNative and bool_gauge; set exactly one, such as ratio: {errors: {metric: ...}, total: {metric: ...}}", what, set)
	}
	switch {
	case ind.Ratio != nil:
		errs, err := selector(what, "spec.indicator.ratio.errors.metric", ind.Ratio.Errors.Metric)
		if err != nil {
			return SLI{}, err
		}
		total, err := selector(what, "spec.indicator.ratio.total.metric", ind.Ratio.Total.Metric)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("sum(rate(%s[%s])) / sum(rate(%s[%s]))", errs, windowMark, total, windowMark)
	case ind.Latency != nil:
		success, err := selector(what, "spec.indicator.latency.success.metric", ind.Latency.Success.Metric)
		if err != nil {
			return SLI{}, err
		}
		total, err := selector(what, "spec.indicator.latency.total.metric", ind.Latency.Total.Metric)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("1 - sum(rate(%s[%s])) / sum(rate(%s[%s]))", success, windowMark, total, windowMark)
	case ind.LatencyNative != nil:
		total, err := selector(what, "spec.indicator.latencyNative.total.metric", ind.LatencyNative.Total.Metric)
		if err != nil {
			return SLI{}, err
		}
		latency, err := model.ParseDuration(strings.TrimSpace(ind.LatencyNative.Latency))
		if err != nil || latency <= 0 {
			return SLI{}, fmt.Errorf("%s: spec.indicator.latencyNative.latency %q is not a duration; write one such as \"100ms\"", what, ind.LatencyNative.Latency)
		}
		errorRatio = fmt.Sprintf("1 - histogram_fraction(0, %s, sum(rate(%s[%s])))",
			strconv.FormatFloat(time.Duration(latency).Seconds(), 'g', -1, 64), total, windowMark)
	case ind.BoolGauge != nil:
		metric, err := selector(what, "spec.indicator.bool_gauge.metric", ind.BoolGauge.Metric)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("1 - sum(sum_over_time(%s[%s])) / sum(count_over_time(%s[%s]))", metric, windowMark, metric, windowMark)
	}
	return newSLI(source, fromPercent(target), time.Duration(window), errorRatio)
}
