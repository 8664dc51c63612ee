#!/usr/bin/env bash
# hack/testbed-up.sh: bring up the Faultline testbed on this machine, with no
# containers and no downloads (README.md, "The testbed"):
#
#   - a kwok cluster (`kwokctl create cluster --runtime binary`) running our own
#     etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
#     kwok-controller from hack/tools.sh, bound to 127.0.0.1;
#   - 4 kwok nodes in zones zone-a and zone-b (e2e/testbed/nodes.yaml), with the
#     pod lifecycle of e2e/testbed/kwok-stages.yaml (Running at once, Ready
#     after 5s or the pod annotation faultline.dev/ready-delay);
#   - the Istio CRDs, Sloth's and Pyrra's (the SLO objects experiments may
#     reference; e2e/testbed/crds), and ours, and the demo shop in namespace shop
#     (e2e/testbed/shop.yaml, shop-istio.yaml): checkout (3), cart (3),
#     payments (2, PDB minAvailable 2), reviews (2) and ratings (2), Services
#     and VirtualServices with an http route "primary";
#   - trafficsim (bin/trafficsim, 127.0.0.1:9464) and Prometheus
#     (bin/prometheus, 127.0.0.1:9090, e2e/testbed/prometheus.yml + alerts.yml);
#   - Alertmanager (bin/alertmanager, 127.0.0.1:9093, e2e/testbed/alertmanager.yml
#     copied into .testbed), which Prometheus sends the demo alerts to and which
#     notifies the operator's webhook receiver at 127.0.0.1:9444 when an e2e run
#     serves it, with the bearer token of .testbed/alert-receiver-token (made
#     once; the operator is run with --alert-receiver-token-file on it).
#
# State, PIDs and logs live in .testbed/ (FAULTLINE_TESTBED_DIR); the kubeconfig
# is .testbed/kubeconfig and is printed at the end. Idempotent: a healthy
# testbed is reused, a broken one is torn down and rebuilt. Any failure or
# interrupt tears down what this run started (hack/testbed-down.sh).
#
# Usage: hack/testbed-up.sh            (make testbed-up)
# Environment: see hack/testbed-lib.sh; FAULTLINE_TESTBED_SKIP_TOOLS=1 skips
# hack/tools.sh (the binaries must then already be in bin/);
# FAULTLINE_TESTBED_REUSE_ONLY=1 only restarts a stopped trafficsim,
# Prometheus or Alertmanager and fails rather than rebuild the cluster (for tests that stop
# Prometheus while objects of theirs live in the cluster).
set -Eeuo pipefail
# shellcheck source=hack/testbed-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/testbed-lib.sh"

START_MS=$(tb_now_ms)
elapsed() { local ms=$(($(tb_now_ms) - START_MS)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD every 100ms.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$(($(tb_now_ms) + timeout * 1000))
  until "$@" >/dev/null 2>&1; do
    (($(tb_now_ms) < deadline)) || { tb_log "timed out after ${timeout}s waiting for $what"; return 1; }
    check_components
    sleep 0.1
  done
}

# check_components fails at once when a process we started has died, instead
# of waiting out a timeout (a busy port, a bad flag).
check_components() {
  local f
  for f in "$CLUSTER_DIR"/pids/*.pid "$TESTBED_DIR"/trafficsim.pid "$TESTBED_DIR"/prometheus.pid "$TESTBED_DIR"/alertmanager.pid; do
    [[ -e $f ]] || continue
    if ! tb_pidfile_alive "$f"; then
      local name log
      name=$(basename "$f" .pid)
      log=$CLUSTER_DIR/logs/$name.log
      [[ -e $log ]] || log=$TESTBED_DIR/$name.log
      tb_log "$name exited; last lines of $log:"
      tail -n 15 "$log" >&2 || true
      return 1
    fi
  done
}

# cleanup_on_failure [SIGNAL]: the ERR/INT/TERM trap. Stops this script's
# background jobs (the trafficsim build, the CRD install), then everything
# testbed-down knows of.
cleanup_on_failure() {
  local rc=$? why
  trap - ERR INT TERM
  why=${1:+interrupted by SIG$1}
  tb_log "bring-up ${why:-failed (exit $rc)} after $(elapsed); tearing down what was started"
  kill_descendants $$
  wait 2>/dev/null || true
  "$REPO_ROOT/hack/testbed-down.sh" >&2 || true
  exit 1
}

# kill_descendants PID: SIGTERM to every descendant of PID, deepest first
# (a background `go build` and its compilers, a kubectl of the CRD install).
kill_descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    kill_descendants "$child"
    kill "$child" 2>/dev/null || true
  done
}

set_cleanup_trap() {
  trap cleanup_on_failure ERR
  trap 'cleanup_on_failure INT' INT
  trap 'cleanup_on_failure TERM' TERM
}

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

# cluster_healthy: every control-plane process runs, the apiserver is ready
# and the shop is installed. Deliberately no more: nodes cordoned or pods
# missing are what tests do to the testbed, not reasons to rebuild it.
cluster_healthy() {
  [[ -s $KUBECONFIG_OUT && -d $CLUSTER_DIR/pids ]] || return 1
  local f n=0
  for f in "$CLUSTER_DIR"/pids/*.pid; do tb_pidfile_alive "$f" || return 1; n=$((n + 1)); done
  ((n == 5)) || return 1
  kubectl_tb get --raw /readyz --request-timeout=3s >/dev/null 2>&1 || return 1
  kubectl_tb -n shop get deploy/checkout deploy/cart deploy/payments deploy/reviews deploy/ratings \
    virtualservices.networking.istio.io/checkout virtualservices.networking.istio.io/cart \
    virtualservices.networking.istio.io/payments virtualservices.networking.istio.io/reviews \
    virtualservices.networking.istio.io/ratings >/dev/null 2>&1
}

sim_healthy() { tb_pidfile_alive "$TESTBED_DIR/trafficsim.pid" && http_ok "http://$TRAFFICSIM_ADDR/healthz"; }
prom_healthy() { tb_pidfile_alive "$TESTBED_DIR/prometheus.pid" && http_ok "http://$PROMETHEUS_ADDR/-/ready"; }
am_healthy() { tb_pidfile_alive "$TESTBED_DIR/alertmanager.pid" && http_ok "http://$ALERTMANAGER_ADDR/-/ready"; }

# require_port_free ADDR WHAT: fail early, naming the holder, rather than
# start a process that exits on a busy port.
require_port_free() {
  if tb_port_busy "$1"; then
    tb_log "port ${1##*:} (for $2) is in use:"
    ss -Hltnp "sport = :${1##*:}" >&2 || true
    return 1
  fi
}

# pick_ports sets the six control-plane ports: the first free ones from
# PORT_BASE. kwokctl's own choice (counting down from 32765, checked only when
# chosen) raced with other kwok clusters on this machine: an etcd then failed
# on a peer port taken in between and kwokctl waited 2 minutes.
pick_ports() {
  local p=$PORT_BASE ports=()
  while ((${#ports[@]} < 6)); do
    ((p < PORT_BASE + 200)) || tb_die "no 6 free ports in $PORT_BASE-$((PORT_BASE + 199))"
    # Any socket on the port, not only a listener: a connection's local
    # port blocks etcd's bind just the same.
    [[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]] || ports+=("$p")
    p=$((p + 1))
  done
  APISERVER_PORT=${ports[0]} ETCD_PORT=${ports[1]} ETCD_PEER_PORT=${ports[2]}
  KCM_PORT=${ports[3]} SCHEDULER_PORT=${ports[4]} KWOK_PORT=${ports[5]}
}

# write_kwokctl_config writes the KwokctlConfiguration: our binaries (so
# kwokctl never downloads anything: a local path is symlinked, a URL would be
# fetched), fixed ports, and every listener on 127.0.0.1 instead of kwokctl's
# 0.0.0.0 (an etcd without auth must not face the network). The one
# controller-manager and scheduler run without leader election: with it, an
# API server outage longer than their renew deadline makes them exit (a lost
# lease), and the binary runtime does not restart them.
write_kwokctl_config() {
  local kube_version
  kube_version=$("$BIN/kube-apiserver" --version | awk '{print $2}')
  cat >"$TESTBED_DIR/kwokctl.yaml" <<EOF
# Generated by hack/testbed-up.sh; the Stages come from e2e/testbed/kwok-stages.yaml.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $kube_version
  etcdBinary: $BIN/etcd
  kubeApiserverBinary: $BIN/kube-apiserver
  kubeControllerManagerBinary: $BIN/kube-controller-manager
  kubeSchedulerBinary: $BIN/kube-scheduler
  kubectlBinary: $BIN/kubectl
  kwokControllerBinary: $BIN/kwok
  kubeApiserverPort: $APISERVER_PORT
  etcdPort: $ETCD_PORT
  etcdPeerPort: $ETCD_PEER_PORT
  kubeControllerManagerPort: $KCM_PORT
  kubeSchedulerPort: $SCHEDULER_PORT
  kwokControllerPort: $KWOK_PORT
  disableQPSLimits: true
  quietPull: true
componentsPatches:
- name: etcd
  extraArgs:
  - {key: listen-client-urls, value: "http://127.0.0.1:$ETCD_PORT", override: true}
  - {key: advertise-client-urls, value: "http://127.0.0.1:$ETCD_PORT", override: true}
  - {key: listen-peer-urls, value: "http://127.0.0.1:$ETCD_PEER_PORT", override: true}
  - {key: initial-advertise-peer-urls, value: "http://127.0.0.1:$ETCD_PEER_PORT", override: true}
  - {key: initial-cluster, value: "node0=http://127.0.0.1:$ETCD_PEER_PORT", override: true}
- name: kube-apiserver
  extraArgs:
  - {key: bind-address, value: 127.0.0.1, override: true}
- name: kube-controller-manager
  extraArgs:
  - {key: bind-address, value: 127.0.0.1, override: true}
  - {key: leader-elect, value: "false", override: true}
- name: kube-scheduler
  extraArgs:
  - {key: bind-address, value: 127.0.0.1, override: true}
  - {key: leader-elect, value: "false", override: true}
- name: kwok-controller
  extraArgs:
  - {key: server-address, value: "127.0.0.1:$KWOK_PORT", override: true}
EOF
}

# stop_pidfile NAME stops the process of $TESTBED_DIR/NAME.pid, if running.
stop_pidfile() {
  local f=$TESTBED_DIR/$1.pid
  if tb_pidfile_alive "$f"; then tb_kill "$(<"$f")"; fi
  rm -f "$f"
}

start_prometheus() {
  require_port_free "$PROMETHEUS_ADDR" prometheus
  # setsid: the testbed outlives this script and must not get the Ctrl-C
  # meant for a later foreground command; testbed-down stops it by PID.
  setsid "$BIN/prometheus" \
    --config.file="$TESTBED_SRC/prometheus.yml" \
    --web.listen-address="$PROMETHEUS_ADDR" \
    --web.enable-lifecycle \
    --storage.tsdb.path="$TESTBED_DIR/prometheus" \
    --storage.tsdb.retention.time=1d \
    >"$TESTBED_DIR/prometheus.log" 2>&1 </dev/null 9>&- &
  echo $! >"$TESTBED_DIR/prometheus.pid"
}

# ALERTMANAGER_CONFIG is the copy Alertmanager runs on: its credentials_file
# (a relative path) is read beside it, in the state directory, where the
# token is not in the source tree.
ALERTMANAGER_CONFIG=$TESTBED_DIR/alertmanager.yml
ALERT_RECEIVER_TOKEN=$TESTBED_DIR/alert-receiver-token

# prepare_alertmanager makes the receiver's token once (kept across
# up/down, so an operator started earlier keeps matching) and copies the
# configuration beside it.
prepare_alertmanager() {
  if [[ ! -s $ALERT_RECEIVER_TOKEN ]]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$ALERT_RECEIVER_TOKEN.tmp") &&
      mv -f "$ALERT_RECEIVER_TOKEN.tmp" "$ALERT_RECEIVER_TOKEN"
  fi
  cp -f "$TESTBED_SRC/alertmanager.yml" "$ALERTMANAGER_CONFIG"
}

# am_current: the running Alertmanager was started on the configuration
# copy, and the copy matches e2e/testbed/alertmanager.yml. An Alertmanager
# of an older testbed, started on the source file without the token, would
# have every notification refused by the receiver.
am_current() {
  local pid args
  tb_pidfile_alive "$TESTBED_DIR/alertmanager.pid" || return 1
  pid=$(<"$TESTBED_DIR/alertmanager.pid")
  args=$(tr '\0' '\n' <"/proc/$pid/cmdline") || return 1
  grep -qxF -- "--config.file=$ALERTMANAGER_CONFIG" <<<"$args" &&
    cmp -s "$TESTBED_SRC/alertmanager.yml" "$ALERTMANAGER_CONFIG" && [[ -s $ALERT_RECEIVER_TOKEN ]]
}

start_alertmanager() {
  require_port_free "$ALERTMANAGER_ADDR" alertmanager
  prepare_alertmanager
  # An empty --cluster.listen-address turns off the HA gossip, which would
  # otherwise bind port 9094 on every interface.
  setsid "$BIN/alertmanager" \
    --config.file="$ALERTMANAGER_CONFIG" \
    --web.listen-address="$ALERTMANAGER_ADDR" \
    --cluster.listen-address= \
    --storage.path="$TESTBED_DIR/alertmanager" \
    >"$TESTBED_DIR/alertmanager.log" 2>&1 </dev/null 9>&- &
  echo $! >"$TESTBED_DIR/alertmanager.pid"
}

start_trafficsim() {
  require_port_free "$TRAFFICSIM_ADDR" trafficsim
  # reviews and ratings, the judgement's services, get traffic and noise of
  # their own; the other services keep the shared settings.
  local judged=(shop/reviews shop/ratings) j rps=() capacity=() errors=()
  for j in "${judged[@]}"; do
    rps+=("$j=$TRAFFICSIM_JUDGEMENT_RPS")
    capacity+=("$j=$TRAFFICSIM_JUDGEMENT_CAPACITY")
    errors+=("$j=$TRAFFICSIM_JUDGEMENT_ERROR_RATE")
  done
  setsid "$BIN/trafficsim" \
    --kubeconfig "$KUBECONFIG_OUT" \
    --services "shop/checkout,shop/cart,shop/payments,$(IFS=,; echo "${judged[*]}")" \
    --rps "$TRAFFICSIM_RPS" --capacity "$TRAFFICSIM_CAPACITY" --header-share "$TRAFFICSIM_HEADER_SHARE" \
    --service-rps "$(IFS=,; echo "${rps[*]}")" --service-capacity "$(IFS=,; echo "${capacity[*]}")" \
    --error-rate "$(IFS=,; echo "${errors[*]}")" \
    --listen "$TRAFFICSIM_ADDR" \
    >"$TESTBED_DIR/trafficsim.log" 2>&1 </dev/null 9>&- &
  echo $! >"$TESTBED_DIR/trafficsim.pid"
}

build_trafficsim() {
  (cd "$REPO_ROOT" && go build -o "$BIN/trafficsim.tmp" ./e2e/trafficsim && mv -f "$BIN/trafficsim.tmp" "$BIN/trafficsim")
}

istio_crds() {
  local dir
  dir=$(cd "$REPO_ROOT" && go list -m -f '{{.Dir}}' istio.io/api)
  if [[ -z $dir ]]; then
    (cd "$REPO_ROOT" && go mod download istio.io/api)
    dir=$(cd "$REPO_ROOT" && go list -m -f '{{.Dir}}' istio.io/api)
  fi
  echo "$dir/kubernetes/customresourcedefinitions.gen.yaml"
}

# sloth_crd: Sloth's PrometheusServiceLevel CRD, from the github.com/slok/sloth
# module Faultline builds against. Pyrra's CRD is not in a Go module, so the
# testbed installs a mirror of it from e2e/testbed/crds.
sloth_crd() {
  local dir
  dir=$(cd "$REPO_ROOT" && go list -m -f '{{.Dir}}' github.com/slok/sloth)
  if [[ -z $dir ]]; then
    (cd "$REPO_ROOT" && go mod download github.com/slok/sloth)
    dir=$(cd "$REPO_ROOT" && go list -m -f '{{.Dir}}' github.com/slok/sloth)
  fi
  echo "$dir/pkg/kubernetes/gen/crd/sloth.slok.dev_prometheusservicelevels.yaml"
}

print_summary() {
  cat <<EOF
testbed up in $(elapsed):
  kubeconfig  $KUBECONFIG_OUT   (export KUBECONFIG=$KUBECONFIG_OUT)
  apiserver   $(kubectl_tb config view -o jsonpath='{.clusters[0].cluster.server}')
  prometheus  http://$PROMETHEUS_ADDR
  alertmanager http://$ALERTMANAGER_ADDR (notifies the operator's receiver at 127.0.0.1:9444
              with the bearer token of $ALERT_RECEIVER_TOKEN)
  trafficsim  http://$TRAFFICSIM_ADDR/metrics
  logs        $TESTBED_DIR/*.log, $CLUSTER_DIR/logs/
  down        make testbed-down
$KUBECONFIG_OUT
EOF
}

main() {
  tb_lock
  mkdir -p "$TESTBED_DIR" "$BIN"
  if [[ ${FAULTLINE_TESTBED_SKIP_TOOLS:-0} != 1 ]]; then
    "$REPO_ROOT/hack/tools.sh" etcd k8s kwok prometheus alertmanager
  fi
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl prometheus alertmanager; do
    [[ -x $BIN/$b ]] || tb_die "$BIN/$b is missing; run hack/tools.sh"
  done

  if cluster_healthy; then
    if sim_healthy && prom_healthy && am_healthy && am_current; then
      tb_log "already up and healthy; reusing it"
      print_summary
      return 0
    fi
    # Only what is down is restarted, and Prometheus keeps its data, so the
    # e2e helpers can stop and start Prometheus through this script.
    if ! prom_healthy; then
      tb_log "cluster healthy; restarting Prometheus"
      stop_pidfile prometheus
      start_prometheus
    fi
    if ! am_healthy || ! am_current; then
      tb_log "cluster healthy; restarting Alertmanager (down, or on another configuration than e2e/testbed/alertmanager.yml)"
      stop_pidfile alertmanager
      start_alertmanager
    fi
    if ! sim_healthy; then
      tb_log "cluster healthy; restarting trafficsim"
      stop_pidfile trafficsim
      build_trafficsim
      start_trafficsim
    fi
    wait_until 30 "trafficsim" http_ok "http://$TRAFFICSIM_ADDR/healthz"
    wait_until 30 "Prometheus" http_ok "http://$PROMETHEUS_ADDR/-/ready"
    wait_until 30 "Alertmanager" http_ok "http://$ALERTMANAGER_ADDR/-/ready"
    print_summary
    return 0
  fi

  if [[ ${FAULTLINE_TESTBED_REUSE_ONLY:-0} == 1 ]]; then
    tb_die "the cluster is not healthy and FAULTLINE_TESTBED_REUSE_ONLY=1 forbids rebuilding it"
  fi

  if [[ -d $KWOK_WORKDIR || -e $TESTBED_DIR/trafficsim.pid || -e $TESTBED_DIR/prometheus.pid || -e $TESTBED_DIR/alertmanager.pid || -n $(tb_leftovers) ]]; then
    tb_log "found a stopped or broken testbed; tearing it down first"
    "$REPO_ROOT/hack/testbed-down.sh"
  fi

  set_cleanup_trap
  require_port_free "$TRAFFICSIM_ADDR" trafficsim

  # Compile trafficsim while the cluster starts; it needs ~1 min from cold.
  build_trafficsim >"$TESTBED_DIR/build-trafficsim.log" 2>&1 &
  local build_pid=$!

  rm -rf "$TESTBED_DIR/prometheus" "$TESTBED_DIR/alertmanager"
  start_prometheus
  start_alertmanager

  pick_ports
  write_kwokctl_config
  tb_log "creating kwok cluster $CLUSTER_NAME (apiserver 127.0.0.1:$APISERVER_PORT)"
  # --timeout bounds kwokctl's own wait; check_components below fails faster.
  "$BIN/kwokctl" --name "$CLUSTER_NAME" \
    --config "$TESTBED_DIR/kwokctl.yaml" --config "$TESTBED_SRC/kwok-stages.yaml" \
    create cluster --runtime binary --kubeconfig "$KUBECONFIG_OUT" --timeout 60s \
    >"$TESTBED_DIR/kwokctl.log" 2>&1 9>&- || { tail -n 20 "$TESTBED_DIR/kwokctl.log" >&2; false; }
  tb_log "kwokctl done after $(elapsed)"
  wait_until 60 "the apiserver to be ready" kubectl_tb get --raw /readyz --request-timeout=2s
  tb_log "apiserver ready after $(elapsed)"

  # The CRDs (~4s to apply and establish on 2 cores) go in parallel with the
  # workloads, whose pods' ready delay runs meanwhile. Server-side apply,
  # because the Istio CRDs are too big for the last-applied annotation of a
  # client-side apply.
  local crds slo_crd
  crds=$(istio_crds)
  slo_crd=$(sloth_crd)
  (
    kubectl_tb apply --server-side --force-conflicts -f "$crds" -f "$slo_crd" -f "$TESTBED_SRC/crds" -f "$REPO_ROOT/config/crd/bases" >/dev/null &&
      kubectl_tb wait --for condition=Established crd --all --timeout 60s >/dev/null &&
      kubectl_tb apply --server-side --force-conflicts -f "$TESTBED_SRC/shop-istio.yaml" >/dev/null
  ) >"$TESTBED_DIR/crds.log" 2>&1 &
  local crds_pid=$!
  kubectl_tb apply --server-side --force-conflicts -f "$TESTBED_SRC/nodes.yaml" -f "$TESTBED_SRC/shop.yaml" >/dev/null
  wait "$crds_pid" || { cat "$TESTBED_DIR/crds.log" >&2; tb_die "installing the CRDs failed"; }
  tb_log "CRDs and VirtualServices in place after $(elapsed)"
  wait_until 60 "4 Ready nodes" bash -c "[[ \$('$BIN/kubectl' --kubeconfig '$KUBECONFIG_OUT' get nodes -l type=kwok --no-headers | grep -c ' Ready ') == 4 ]]"

  wait "$build_pid" || { cat "$TESTBED_DIR/build-trafficsim.log" >&2; tb_die "building trafficsim failed"; }
  start_trafficsim

  kubectl_tb -n shop wait --for condition=Available deploy --all --timeout 90s >/dev/null
  kubectl_tb -n shop wait pdb/payments --for jsonpath='{.status.currentHealthy}'=2 --timeout 30s >/dev/null
  tb_log "shop available after $(elapsed)"

  wait_until 30 "trafficsim" http_ok "http://$TRAFFICSIM_ADDR/healthz"
  tb_log "trafficsim serving after $(elapsed)"
  wait_until 30 "Prometheus" http_ok "http://$PROMETHEUS_ADDR/-/ready"
  wait_until 30 "Alertmanager" http_ok "http://$ALERTMANAGER_ADDR/-/ready"
  # The testbed is up when Prometheus has samples of the simulated traffic.
  wait_until 30 "Prometheus to scrape trafficsim" bash -c \
    "curl -fsS --max-time 2 'http://$PROMETHEUS_ADDR/api/v1/query' --data-urlencode 'query=sum(rate(istio_requests_total{destination_service_name=\"checkout\"}[3s])) > 0' | grep -q '\"value\"'"
  trap - ERR INT TERM
  print_summary
}

main "$@"
