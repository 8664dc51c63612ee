#!/bin/sh
# wait-for-run.sh RUN [NAMESPACE [TIMEOUT]]
#
# Waits for the verdict of a Faultline ExperimentRun with kubectl alone, and
# exits 0 only if the run Passed (a dry run that passed included). Any other
# verdict fails the step as soon as it is known, not at the timeout: the
# first wait ends on the verdict whatever it is, the second checks it once.
# Exit codes: 0 passed, 1 any other verdict or the timeout, 2 bad usage.
set -eu
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: $0 RUN [NAMESPACE [TIMEOUT]]" >&2
  exit 2
fi
run=$1
ns=${2:+--namespace=$2}
timeout=${3:-30m}

# shellcheck disable=SC2086 # $ns is one flag or nothing
kubectl wait $ns --for=condition=Completed --timeout="$timeout" "experimentrun/$run"
# shellcheck disable=SC2086
if ! kubectl wait $ns --for=condition=Ready --timeout=0 "experimentrun/$run" >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  kubectl get $ns experimentrun "$run" -o jsonpath='{.status.verdict}: {.status.message}{"\n"}' >&2
  exit 1
fi
