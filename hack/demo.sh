#!/usr/bin/env bash
# hack/demo.sh (make demo): the testbed, the operator, and one run of each
# sample experiment, watched live, with the reports at the end.
#
# Ctrl-C, or the end, stops the operator and tears the testbed down; set
# FAULTLINE_DEMO_KEEP=1 to leave both running for a look around
# (KUBECONFIG=.testbed/kubeconfig bin/kubectl get experimentruns -n shop).
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${FAULTLINE_TESTBED_DIR:-$root/.testbed}
export KUBECONFIG="$state/kubeconfig"
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

operator_pid=""
# Only the EXIT trap calls cleanup. ShellCheck 0.9 (Debian 12's) calls its body
# unreachable because the script ends in `exit "$status"` (koalaman/shellcheck#2542).
# shellcheck disable=SC2317
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n "$operator_pid" ]] && kill -0 "$operator_pid" 2>/dev/null; then
    if [[ "${FAULTLINE_DEMO_KEEP:-0}" == 1 ]]; then
      say "left running: operator (pid $operator_pid) and the testbed; stop with: kill $operator_pid; make testbed-down"
      exit "$code"
    fi
    kill "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
  if [[ "${FAULTLINE_DEMO_KEEP:-0}" != 1 ]]; then
    say "tearing down"
    hack/testbed-down.sh || true
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "testbed: a real control plane, kwok nodes, Prometheus and traffic"
hack/testbed-up.sh

say "building the operator and the kubectl plugin"
go build -o bin/faultline ./cmd/faultline
go build -o bin/kubectl-faultline ./cmd/kubectl-faultline
export PATH="$root/bin:$PATH"

say "starting the operator (log: $state/operator-demo.log)"
# The demo shows runs, not admission: the operator runs as the testbed's
# admin without its webhooks, so nothing records requesters and no rights
# are checked. `make e2e` runs the same operator with the webhooks served on
# localhost, the way a cluster runs it. The testbed's Alertmanager sends the
# receiver the token hack/testbed-up.sh made.
bin/faultline --kubeconfig "$KUBECONFIG" --metrics-bind-address 127.0.0.1:8080 \
  --health-probe-bind-address 127.0.0.1:8081 --operator-namespace faultline-system \
  --webhooks=false --reap-period 10s \
  --alert-receiver-bind-address 127.0.0.1:9444 --alert-receiver-token-file "$state/alert-receiver-token" \
  >"$state/operator-demo.log" 2>&1 &
operator_pid=$!
for _ in $(seq 100); do
  curl -fsS http://127.0.0.1:8081/readyz >/dev/null 2>&1 && break
  kill -0 "$operator_pid" 2>/dev/null || { tail -20 "$state/operator-demo.log"; echo "the operator exited" >&2; exit 1; }
  sleep 0.1
done

say "waiting for the shop's steady state (every service answering >= 99% over 5s)"
# Right after start-up, the rate windows still hold the requests that failed
# while pods became Ready; an experiment started now would (rightly) refuse
# to inject because its baseline does not hold.
steady() {
  local svc ratio
  for svc in checkout cart payments; do
    ratio=$(curl -fsS --get http://127.0.0.1:9090/api/v1/query --data-urlencode \
      "query=sum(rate(istio_requests_total{destination_service_name=\"$svc\",response_code!~\"5..\"}[5s])) / sum(rate(istio_requests_total{destination_service_name=\"$svc\"}[5s]))" |
      sed -n 's/.*"value":\[[^,]*,"\([^"]*\)".*/\1/p')
    awk -v r="${ratio:-0}" 'BEGIN { exit !(r >= 0.99) }' || return 1
  done
}
for _ in $(seq 120); do steady && break; sleep 1; done
steady || echo "the shop is not at its steady state yet; runs may end Inconclusive" >&2

say "applying the sample experiments"
kubectl apply -f config/samples/chaos_v1alpha1_experiment_podkill.yaml \
  -f config/samples/chaos_v1alpha1_experiment_istio.yaml \
  -f config/samples/chaos_v1alpha1_experiment_nodedrain.yaml
# The Istio sample only runs in its Mon–Thu 10:00–16:00 game-day window (Seoul);
# the demo lifts the window so it can run now. Everything else is as shipped.
kubectl -n shop patch experiment cart-abort --type=json -p '[{"op":"remove","path":"/spec/windows"}]' >/dev/null

status=0
for exp in checkout-pod-kill cart-abort zone-a-node-drain; do
  say "running $exp (phases as they happen, then the report)"
  # The exit code is the verdict (0 Passed ... 3 Inconclusive); a verdict
  # is the demo working. 4 and up (Error, timed out, usage) is a broken demo.
  rc=0
  kubectl faultline -n shop run "$exp" --wait --timeout 6m -o text || rc=$?
  ((rc < 4)) || status=$rc
done

say "every run"
kubectl get experimentruns -n shop
kubectl faultline -n shop list
say "VirtualService cart after its run (no fault left behind)"
kubectl -n shop get virtualservice cart -o jsonpath='{.spec.http}' ; echo
say "nodes after the drain (none left cordoned by Faultline)"
kubectl get nodes
exit "$status"
