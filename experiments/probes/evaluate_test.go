package probes_test

import (
	"math"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

func hypothesis(op chaosv1alpha1.ConditionOperator, value string) chaosv1alpha1.Hypothesis {
	return chaosv1alpha1.Hypothesis{Op: op, Value: value}
}

func TestEvaluate(t *testing.T) {
	tests := map[string]struct {
		value   float64
		h       chaosv1alpha1.Hypothesis
		want    bool
		wantErr bool
	}{
		"above a > threshold, passes":               {value: 1, h: hypothesis(">", "0.5"), want: true},
		"equal to a > threshold, fails":             {value: 0.5, h: hypothesis(">", "0.5")},
		"equal to a >= threshold, passes":           {value: 0.99, h: hypothesis(">=", "0.99"), want: true},
		"below a >= threshold, fails":               {value: 0.989, h: hypothesis(">=", "0.99")},
		"below a < threshold, passes":               {value: 249, h: hypothesis("<", "250"), want: true},
		"equal to a < threshold, fails":             {value: 250, h: hypothesis("<", "250")},
		"equal to a <= threshold, passes":           {value: 250, h: hypothesis("<=", "250"), want: true},
		"above a <= threshold, fails":               {value: 251, h: hypothesis("<=", "250")},
		"equal to an == threshold, passes":          {value: 0, h: hypothesis("==", "0"), want: true},
		"different from an == threshold, fails":     {value: 1, h: hypothesis("==", "0")},
		"different from a != threshold, passes":     {value: 1, h: hypothesis("!=", "0"), want: true},
		"equal to a != threshold, fails":            {value: 0, h: hypothesis("!=", "0")},
		"threshold in exponent form, is parsed":     {value: 2000, h: hypothesis(">", "1.5e3"), want: true},
		"negative threshold, is parsed":             {value: -1, h: hypothesis(">", "-2"), want: true},
		"NaN against >=, fails":                     {value: math.NaN(), h: hypothesis(">=", "0.99")},
		"NaN against <, fails":                      {value: math.NaN(), h: hypothesis("<", "250")},
		"NaN against !=, fails although NaN != 0":   {value: math.NaN(), h: hypothesis("!=", "0")},
		"+Inf against >, passes":                    {value: math.Inf(1), h: hypothesis(">", "0"), want: true},
		"+Inf against <, fails":                     {value: math.Inf(1), h: hypothesis("<", "250")},
		"unparsable threshold, is an error":         {value: 1, h: hypothesis(">=", "ninety-nine"), wantErr: true},
		"empty threshold, is an error":              {value: 1, h: hypothesis(">=", ""), wantErr: true},
		"NaN threshold, is an error":                {value: 1, h: hypothesis("!=", "NaN"), wantErr: true},
		"unknown operator, is an error":             {value: 1, h: hypothesis("=>", "0"), wantErr: true},
		"unknown operator with a NaN value, errors": {value: math.NaN(), h: hypothesis("~", "0"), wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := probes.Evaluate(tt.value, tt.h)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Evaluate(%v, %+v) error = %v, want error: %v", tt.value, tt.h, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Evaluate(%v, %+v) = %v, want %v", tt.value, tt.h, got, tt.want)
			}
		})
	}
}

func TestWorse(t *testing.T) {
	tests := map[string]struct {
		a, b float64
		h    chaosv1alpha1.Hypothesis
		want bool
	}{
		"lower under >=, is worse":                         {a: 0.9, b: 0.95, h: hypothesis(">=", "0.99"), want: true},
		"higher under >=, is not worse":                    {a: 0.95, b: 0.9, h: hypothesis(">=", "0.99")},
		"lower under >, is worse":                          {a: 1, b: 2, h: hypothesis(">", "5"), want: true},
		"higher under <, is worse":                         {a: 400, b: 300, h: hypothesis("<", "250"), want: true},
		"lower under <=, is not worse":                     {a: 300, b: 400, h: hypothesis("<=", "250")},
		"further from an == threshold, is worse":           {a: 7, b: 4, h: hypothesis("==", "5"), want: true},
		"further below an == threshold, is worse":          {a: 1, b: 6, h: hypothesis("==", "5"), want: true},
		"closer to an == threshold, is not worse":          {a: 5, b: 6, h: hypothesis("==", "5")},
		"closer to a != threshold, is worse":               {a: 0.1, b: 3, h: hypothesis("!=", "0"), want: true},
		"equal to a != threshold, is worse than any other": {a: 0, b: 0.001, h: hypothesis("!=", "0"), want: true},
		"further from a != threshold, is not worse":        {a: 3, b: 0.1, h: hypothesis("!=", "0")},
		"equal values, are not worse":                      {a: 0.9, b: 0.9, h: hypothesis(">=", "0.99")},
		"NaN, is worse than a number":                      {a: math.NaN(), b: 0, h: hypothesis(">=", "0.99"), want: true},
		"a number, is not worse than NaN":                  {a: 0, b: math.NaN(), h: hypothesis(">=", "0.99")},
		"NaN, is not worse than NaN":                       {a: math.NaN(), b: math.NaN(), h: hypothesis(">=", "0.99")},
		"unparsable threshold under ==, is not worse":      {a: 100, b: 1, h: hypothesis("==", "x")},
		"unknown operator, is not worse":                   {a: 0, b: 1, h: hypothesis("=>", "1")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := probes.Worse(tt.a, tt.b, tt.h); got != tt.want {
				t.Errorf("Worse(%v, %v, %+v) = %v, want %v", tt.a, tt.b, tt.h, got, tt.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := map[string]struct {
		value float64
		want  string
	}{
		"ratio, keeps its digits":            {value: 0.99952, want: "0.99952"},
		"long ratio, rounds to six digits":   {value: 0.999999999, want: "1"},
		"percent, prints without a fraction": {value: 100, want: "100"},
		"two thirds, rounds to six digits":   {value: 200.0 / 3, want: "66.6667"},
		"large count, uses an exponent":      {value: 12345678, want: "1.23457e+07"},
		"negative value, keeps its sign":     {value: -0.5, want: "-0.5"},
		"zero, prints as 0":                  {value: 0, want: "0"},
		"negative zero, prints as 0":         {value: math.Copysign(0, -1), want: "0"},
		"NaN, uses Prometheus's spelling":    {value: math.NaN(), want: "NaN"},
		"+Inf, uses Prometheus's spelling":   {value: math.Inf(1), want: "+Inf"},
		"-Inf, uses Prometheus's spelling":   {value: math.Inf(-1), want: "-Inf"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := probes.FormatValue(tt.value); got != tt.want {
				t.Errorf("FormatValue(%v) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestWorkloadHypothesis(t *testing.T) {
	tests := map[string]struct {
		minReadyPercent int32
		want            chaosv1alpha1.Hypothesis
	}{
		"minReadyPercent set, is the threshold":  {minReadyPercent: 66, want: hypothesis(">=", "66")},
		"minReadyPercent unset, defaults to 100": {want: hypothesis(">=", "100")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := probes.WorkloadHypothesis(chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: tt.minReadyPercent})
			if got != tt.want {
				t.Errorf("WorkloadHypothesis() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
