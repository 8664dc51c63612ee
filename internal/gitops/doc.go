// Package gitops checks the health rules Faultline ships for GitOps tools
// (config/gitops: the Argo CD health check in Lua and the Flux
// healthCheckExprs in CEL) against runs in every state, and against
// kstatus, which Flux and the cli-utils applier use when no rule is given.
// It holds tests only.
package gitops
