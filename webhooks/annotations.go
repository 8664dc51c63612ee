package webhooks

import (
	"fmt"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// maxRunNowToken bounds the run-now annotation. Each new value asks for one
// run; the value is kept on the Experiment (as the token last handled),
// hashed into the run's name and written into events and messages, so a
// 100 KiB value would be stored twice and repeated in every one of them.
const maxRunNowToken = 63

// runNowToken is the alphabet of a run-now value: what a pipeline writes
// (a build number, a commit, a date), with nothing that reads differently
// in a terminal, a name or a message.
var runNowToken = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// runNowHint says what a run-now value looks like.
const runNowHint = "write a token of at most 63 letters, digits, '.', '_' and '-', starting with a letter or digit, such as deploy-42 or 20260301.1"

// runNowErrors checks the run-now annotation of an Experiment when it is
// new or changed in this request (oldAnn is nil on create). An unchanged
// value is left alone, so an Experiment stored before the rule can still be
// updated; an empty value asks for no run and is accepted.
func runNowErrors(oldAnn, newAnn map[string]string) field.ErrorList {
	key := chaosv1alpha1.RunNowAnnotation
	v, ok := newAnn[key]
	if !ok || v == "" {
		return nil
	}
	if old, had := oldAnn[key]; had && old == v {
		return nil
	}
	path := annotationsPath.Key(key)
	if e := controlError(path, v, false, ""); e != nil {
		return field.ErrorList{e}
	}
	switch {
	case len(v) > maxRunNowToken:
		return field.ErrorList{field.Invalid(path, v, fmt.Sprintf("is %d characters long: %s", len(v), runNowHint))}
	case !runNowToken.MatchString(v):
		return field.ErrorList{field.Invalid(path, v, "is not a run-now token: "+runNowHint)}
	}
	return nil
}

// maxScheduledAt bounds the scheduled-at annotation: the longest RFC 3339
// instant, with nanoseconds and a zone offset, has 35 characters.
const maxScheduledAt = 64

// scheduledAtErrors checks the scheduled-at annotation of a new
// ExperimentRun: when present it must be an RFC 3339 instant, as the
// scheduler writes it. A run waits in Pending for that instant, so any
// other text would be stored only to be ignored, or quoted back to whoever
// reads the run.
func scheduledAtErrors(ann map[string]string) field.ErrorList {
	key := chaosv1alpha1.ScheduledAtAnnotation
	v, ok := ann[key]
	if !ok {
		return nil
	}
	if len(v) <= maxScheduledAt {
		if _, err := time.Parse(time.RFC3339, v); err == nil {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(annotationsPath.Key(key), v,
		`is not an RFC 3339 instant: write one such as "2026-03-01T14:00:00Z", or leave the annotation out (Faultline sets it on the runs it schedules)`)}
}
