// Package policy holds Faultline's guardrails as pure functions: whether a
// run may start now (kill switch, windows, blackouts, concurrency, approval)
// and which metrics providers runs may call. The scheduler, the run
// controller and the admission webhooks all ask here, so a rule lives in
// one place.
package policy
