package compare

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promQL parses as the admission webhook does, so every query an Experiment
// was admitted with splits.
var promQL = parser.NewParser(parser.Options{EnableExperimentalFunctions: true})

// SplitQuery turns a probe's query into the query of one group: every vector
// selector gets the group's label matchers (label="value"), replacing any
// matcher the query had on the same label, and every range (of a range
// vector selector or a subquery) becomes window.
//
// Setting every range to the sampling interval makes consecutive samples
// cover disjoint spans of time: the rank test assumes independent samples,
// which samples of overlapping windows are not. Offsets and @ modifiers are
// kept.
func SplitQuery(query string, matchers map[string]string, window time.Duration) (string, error) {
	if window <= 0 {
		return "", fmt.Errorf("the window of a split query must be positive, such as the sampling interval 5s; got %s", window)
	}
	if len(matchers) == 0 {
		return "", errors.New("a group needs at least one label matcher, such as {canary: \"true\"}")
	}
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		return "", fmt.Errorf("the query %q is not valid PromQL: %w", query, err)
	}
	names := make([]string, 0, len(matchers))
	for name := range matchers {
		names = append(names, name)
	}
	// Sorted, so one query always splits into the same text.
	slices.Sort(names)
	added := make([]*labels.Matcher, 0, len(names))
	for _, name := range names {
		m, err := labels.NewMatcher(labels.MatchEqual, name, matchers[name])
		if err != nil {
			return "", fmt.Errorf("label matcher %s=%q: %w", name, matchers[name], err)
		}
		added = append(added, m)
	}

	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			kept := n.LabelMatchers[:0:0]
			for _, m := range n.LabelMatchers {
				if _, replaced := matchers[m.Name]; !replaced {
					kept = append(kept, m)
				}
			}
			n.LabelMatchers = append(kept, added...)
		case *parser.MatrixSelector:
			n.Range, n.RangeExpr = window, nil
		case *parser.SubqueryExpr:
			n.Range, n.RangeExpr = window, nil
		}
		return nil
	})
	return expr.String(), nil
}
