package slo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	openslov1 "github.com/OpenSLO/oslo/pkg/manifest/v1"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// OpenSLOAPIVersion is the apiVersion of the OpenSLO documents Faultline reads.
const OpenSLOAPIVersion = "openslo/v1"

// openSLOHeader is what every OpenSLO document starts with.
type openSLOHeader struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// openSLOTargetPercent reads objectives[].targetPercent, which OpenSLO v1
// allows instead of target and the oslo types do not hold.
type openSLOTargetPercent struct {
	Spec struct {
		Objectives []struct {
			TargetPercent float64 `yaml:"targetPercent"`
		} `yaml:"objectives"`
	} `yaml:"spec"`
}

// FromOpenSLO derives the SLI of the OpenSLO v1 SLO document named name in
// data, a stream of YAML documents such as a ConfigMap value holds. The
// SLO's indicator is inline, or an indicatorRef to an SLI document in the
// same data. Faultline reads ratioMetric indicators whose metric sources are
// Prometheus queries (metricSource.type Prometheus, or a metricSourceRef to
// a DataSource of that type in the same data), budgeted by Occurrences, with
// one objective. The error ratio is bad / total, or 1 - good / total, each
// side over the window:
//
//   - counter: true, the queries are counters: sum(rate(q[w])) for a
//     series selector, sum(rate((q)[w:])) for any other expression;
//   - counter: false, the queries count the events of each evaluation:
//     sum(sum_over_time(q[w])), or sum(sum_over_time((q)[w:])).
//
// The work is linear in the size of data, which a ConfigMap bounds to 1 MiB.
func FromOpenSLO(data []byte, name string) (SLI, error) {
	docs, err := openSLODocuments(data)
	if err != nil {
		return SLI{}, err
	}
	what := fmt.Sprintf("OpenSLO SLO %s", name)

	var found []*yaml.Node
	var sloNames, otherVersions []string
	for _, d := range docs {
		if d.header.Kind != "SLO" {
			continue
		}
		if d.header.APIVersion != OpenSLOAPIVersion {
			if d.header.Metadata.Name == name {
				otherVersions = append(otherVersions, d.header.APIVersion)
			}
			continue
		}
		sloNames = append(sloNames, d.header.Metadata.Name)
		if d.header.Metadata.Name == name {
			found = append(found, d.node)
		}
	}
	switch {
	case len(found) == 0 && len(otherVersions) > 0:
		return SLI{}, fmt.Errorf("%s is apiVersion %s; Faultline reads %s documents: convert it, such as with oslo convert", what, otherVersions[0], OpenSLOAPIVersion)
	case len(found) == 0:
		sort.Strings(sloNames)
		return SLI{}, markedError{ErrNotFound, fmt.Sprintf("no %s document of kind SLO is named %q; it has: %s", OpenSLOAPIVersion, name, names(sloNames))}
	case len(found) > 1:
		return SLI{}, fmt.Errorf("%d SLO documents are named %q; keep one", len(found), name)
	}

	var slo openslov1.SLO
	if err := found[0].Decode(&slo); err != nil {
		return SLI{}, fmt.Errorf("%s does not decode as an OpenSLO v1 SLO: %v", what, err)
	}
	var percent openSLOTargetPercent
	if err := found[0].Decode(&percent); err != nil {
		return SLI{}, fmt.Errorf("%s does not decode as an OpenSLO v1 SLO: %v", what, err)
	}

	switch slo.Spec.BudgetingMethod {
	case "", "Occurrences":
	default:
		return SLI{}, fmt.Errorf("%s: spec.budgetingMethod is %s; Faultline counts events, so write Occurrences", what, slo.Spec.BudgetingMethod)
	}
	if len(slo.Spec.TimeWindow) != 1 {
		return SLI{}, fmt.Errorf("%s: spec.timeWindow has %d entries; write one, such as [{duration: 28d, isRolling: true}]", what, len(slo.Spec.TimeWindow))
	}
	period, err := model.ParseDuration(strings.TrimSpace(slo.Spec.TimeWindow[0].Duration))
	if err != nil || period <= 0 {
		return SLI{}, fmt.Errorf("%s: spec.timeWindow[0].duration %q is not a duration Faultline reads; write it in days or weeks, such as 28d or 4w", what, slo.Spec.TimeWindow[0].Duration)
	}
	if len(slo.Spec.Objectives) != 1 {
		return SLI{}, fmt.Errorf("%s: spec.objectives has %d entries; Faultline judges one objective: keep one, such as [{target: 0.999}]", what, len(slo.Spec.Objectives))
	}
	objective := slo.Spec.Objectives[0].Target
	if objective == 0 && len(percent.Spec.Objectives) == 1 && percent.Spec.Objectives[0].TargetPercent != 0 {
		objective = percent.Spec.Objectives[0].TargetPercent / 100
	}
	if !(objective > 0 && objective < 1) {
		return SLI{}, fmt.Errorf("%s: spec.objectives[0] has no target between 0 and 1; write one such as target: 0.999 (or targetPercent: 99.9)", what)
	}

	var indicator openslov1.SLISpec
	switch {
	case slo.Spec.Indicator != nil:
		indicator = slo.Spec.Indicator.Spec
	case slo.Spec.IndicatorRef != nil:
		ref := *slo.Spec.IndicatorRef
		var sliNames []string
		var sliNode *yaml.Node
		for _, d := range docs {
			if d.header.Kind == "SLI" && d.header.APIVersion == OpenSLOAPIVersion {
				sliNames = append(sliNames, d.header.Metadata.Name)
				if d.header.Metadata.Name == ref && sliNode == nil {
					sliNode = d.node
				}
			}
		}
		if sliNode == nil {
			sort.Strings(sliNames)
			return SLI{}, fmt.Errorf("%s: spec.indicatorRef names the SLI %q, which is not among the documents next to it; they have the SLIs: %s. Put the SLI document in the same ConfigMap value, or write the indicator inline", what, ref, names(sliNames))
		}
		var sli openslov1.SLI
		if err := sliNode.Decode(&sli); err != nil {
			return SLI{}, fmt.Errorf("%s: its SLI %s does not decode as an OpenSLO v1 SLI: %v", what, ref, err)
		}
		indicator = sli.Spec
	default:
		return SLI{}, fmt.Errorf("%s has no indicator; write spec.indicator inline or spec.indicatorRef naming an SLI document", what)
	}

	ratio := indicator.RatioMetric
	if ratio == nil {
		if indicator.ThresholdMetric != nil {
			return SLI{}, fmt.Errorf("%s: its indicator is a thresholdMetric; Faultline reads ratioMetric indicators (good or bad events over total): write one, such as ratioMetric: {counter: true, bad: ..., total: ...}", what)
		}
		return SLI{}, fmt.Errorf("%s: its indicator has no ratioMetric; write one, such as ratioMetric: {counter: true, bad: ..., total: ...}", what)
	}
	total, err := openSLOEvents(what, "ratioMetric.total", &ratio.Total, ratio.Counter, docs)
	if err != nil {
		return SLI{}, err
	}
	var errorRatio string
	switch {
	case ratio.Good != nil && ratio.Bad != nil:
		return SLI{}, fmt.Errorf("%s: its ratioMetric sets both good and bad; keep one", what)
	case ratio.Bad != nil:
		bad, err := openSLOEvents(what, "ratioMetric.bad", ratio.Bad, ratio.Counter, docs)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("%s / %s", bad, total)
	case ratio.Good != nil:
		good, err := openSLOEvents(what, "ratioMetric.good", ratio.Good, ratio.Counter, docs)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("1 - %s / %s", good, total)
	default:
		return SLI{}, fmt.Errorf("%s: its ratioMetric has neither good nor bad; write one of them next to total", what)
	}
	return newSLI(OpenSLOAPIVersion+" SLO "+name, objective, time.Duration(period), errorRatio)
}

// openSLODocument is one document of a YAML stream, with its header read.
type openSLODocument struct {
	header openSLOHeader
	node   *yaml.Node
}

// openSLODocuments splits data into its YAML documents. Documents without a
// kind (empty ones, comments) are skipped.
func openSLODocuments(data []byte) ([]openSLODocument, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []openSLODocument
	for i := 1; ; i++ {
		node := &yaml.Node{}
		err := dec.Decode(node)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, markedError{ErrUnreadable, fmt.Sprintf("YAML document %d does not parse: %v; write OpenSLO v1 documents separated by ---", i, err)}
		}
		var h openSLOHeader
		if node.Kind != yaml.DocumentNode || len(node.Content) != 1 || node.Content[0].Kind != yaml.MappingNode {
			continue
		}
		if err := node.Decode(&h); err != nil || h.Kind == "" {
			continue
		}
		docs = append(docs, openSLODocument{header: h, node: node})
	}
}

// openSLOEvents is the PromQL counting one side of a ratioMetric over the
// window (see FromOpenSLO).
func openSLOEvents(what, field string, holder *openslov1.MetricSourceHolder, counter bool, docs []openSLODocument) (string, error) {
	source := holder.MetricSource
	kind := source.Type
	if kind == "" && source.MetricSourceRef != "" {
		var sources []string
		for _, d := range docs {
			if d.header.Kind != "DataSource" || d.header.APIVersion != OpenSLOAPIVersion {
				continue
			}
			sources = append(sources, d.header.Metadata.Name)
			if d.header.Metadata.Name != source.MetricSourceRef {
				continue
			}
			var ds openslov1.DataSource
			if err := d.node.Decode(&ds); err != nil {
				return "", fmt.Errorf("%s: the DataSource %s does not decode: %v", what, source.MetricSourceRef, err)
			}
			kind = ds.Spec.Type
			break
		}
		if kind == "" {
			sort.Strings(sources)
			return "", fmt.Errorf("%s: %s.metricSource.metricSourceRef names the DataSource %q, which is not among the documents next to it (they have: %s); write metricSource.type: Prometheus instead", what, field, source.MetricSourceRef, names(sources))
		}
	}
	if !strings.EqualFold(kind, "Prometheus") {
		if kind == "" {
			kind = "none"
		}
		return "", fmt.Errorf("%s: %s.metricSource.type is %s; Faultline queries Prometheus: write type: Prometheus with spec.query", what, field, strconv.Quote(kind))
	}
	query := source.MetricSourceSpec["query"]
	if err := checkQuery(what, field+".metricSource.spec.query", query); err != nil {
		return "", err
	}
	query = strings.TrimSpace(query)
	over := "sum_over_time"
	if counter {
		over = "rate"
	}
	if isSelector(query) {
		return fmt.Sprintf("sum(%s(%s[%s]))", over, query, windowMark), nil
	}
	return fmt.Sprintf("sum(%s((%s)[%s:]))", over, query, windowMark), nil
}
