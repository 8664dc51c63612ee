# shellcheck shell=bash disable=SC2034 # the settings are used by the scripts sourcing this
# hack/testbed-lib.sh: settings and helpers shared by hack/testbed-up.sh and
# hack/testbed-down.sh. Sourced, never run.
#
# Environment (all optional):
#   FAULTLINE_TESTBED_DIR    state directory (default <repo>/.testbed, gitignored)
#   FAULTLINE_TESTBED_NAME   kwok cluster name (default faultline)
#   FAULTLINE_TESTBED_PORT   first port tried for the control plane (default 23440,
#                            below Linux's ephemeral range 32768-60999, where any
#                            outgoing connection may hold a port the moment etcd
#                            binds it; six free ports from there on are used)
#   PROMETHEUS_ADDR          Prometheus listen address (default 127.0.0.1:9090)
#   ALERTMANAGER_ADDR        Alertmanager listen address (default 127.0.0.1:9093);
#                            e2e/testbed/prometheus.yml sends alerts to the default
#   TRAFFICSIM_ADDR          trafficsim listen address (default 127.0.0.1:9464);
#                            e2e/testbed/prometheus.yml scrapes the default
#   TRAFFICSIM_RPS, TRAFFICSIM_CAPACITY, TRAFFICSIM_HEADER_SHARE  trafficsim flags
#   TRAFFICSIM_JUDGEMENT_RPS, TRAFFICSIM_JUDGEMENT_CAPACITY, TRAFFICSIM_JUDGEMENT_ERROR_RATE
#                            the request rate, capacity per endpoint and base error
#                            share of reviews and ratings, the judgement's services
#                            (default 300, 200, 0.005: a 2s window of the 20% canary
#                            slice holds 120 requests, of which rate() sees the ~60
#                            between its two 1s scrapes, 0.3 of them failed)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO_ROOT/bin
TESTBED_SRC=$REPO_ROOT/e2e/testbed
TESTBED_DIR=${FAULTLINE_TESTBED_DIR:-$REPO_ROOT/.testbed}
CLUSTER_NAME=${FAULTLINE_TESTBED_NAME:-faultline}
PORT_BASE=${FAULTLINE_TESTBED_PORT:-23440}
PROMETHEUS_ADDR=${PROMETHEUS_ADDR:-127.0.0.1:9090}
ALERTMANAGER_ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:9093}
TRAFFICSIM_ADDR=${TRAFFICSIM_ADDR:-127.0.0.1:9464}
TRAFFICSIM_RPS=${TRAFFICSIM_RPS:-20}
TRAFFICSIM_CAPACITY=${TRAFFICSIM_CAPACITY:-10}
TRAFFICSIM_HEADER_SHARE=${TRAFFICSIM_HEADER_SHARE:-0.2}
TRAFFICSIM_JUDGEMENT_RPS=${TRAFFICSIM_JUDGEMENT_RPS:-300}
TRAFFICSIM_JUDGEMENT_CAPACITY=${TRAFFICSIM_JUDGEMENT_CAPACITY:-200}
TRAFFICSIM_JUDGEMENT_ERROR_RATE=${TRAFFICSIM_JUDGEMENT_ERROR_RATE:-0.005}

KUBECONFIG_OUT=$TESTBED_DIR/kubeconfig
# kwokctl keeps every cluster under $KWOK_WORKDIR/clusters/<name>; pointing it
# into the state directory keeps ~/.kwok untouched and makes "down" complete.
export KWOK_WORKDIR=$TESTBED_DIR/kwok
CLUSTER_DIR=$KWOK_WORKDIR/clusters/$CLUSTER_NAME

# The executables the testbed starts. Leftover processes are recognised by
# their executable being one of these, never by a name pattern alone.
TESTBED_EXES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller kwok trafficsim prometheus alertmanager faultline)

tb_log() { echo "testbed: $*" >&2; }
tb_die() { tb_log "ERROR: $*"; exit 1; }
tb_now_ms() { date +%s%3N; }

# tb_lock takes the testbed lock on fd 9, so two up/down runs (two engineers
# in one tree, or make e2e next to make testbed-up) do not interleave. A
# nested call (up cleaning up through down) inherits the lock instead.
# Every long-lived process must be started with `9>&-`: flock belongs to the
# open file, so a daemon that inherited fd 9 would hold the lock forever.
tb_lock() {
  [[ ${FAULTLINE_TESTBED_LOCKED:-} == 1 ]] && return 0
  mkdir -p "$TESTBED_DIR"
  exec 9>"$TESTBED_DIR/.lock"
  if ! flock -n 9; then
    tb_log "waiting for another testbed-up/down in $TESTBED_DIR ..."
    flock -w 600 9 || tb_die "timed out waiting for the testbed lock"
  fi
  export FAULTLINE_TESTBED_LOCKED=1
}

# tb_is_ours PID: the process exists and runs one of TESTBED_EXES. Guards
# every kill against a PID file whose process is long gone and whose PID the
# kernel has since given to something else.
tb_is_ours() {
  local pid=$1 exe
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  local name=${exe##*/} e
  for e in "${TESTBED_EXES[@]}"; do
    [[ $name == "$e" ]] && return 0
  done
  return 1
}

# tb_pidfile_alive FILE: the PID in FILE is one of ours and running.
tb_pidfile_alive() {
  [[ -s $1 ]] && tb_is_ours "$(<"$1")"
}

# tb_kill PID...: SIGTERM, up to 5s grace, then SIGKILL; waits until gone.
tb_kill() {
  local pids=() p
  for p in "$@"; do if tb_is_ours "$p"; then pids+=("$p"); fi; done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local alive=()
    for p in "${pids[@]}"; do [[ -e /proc/$p ]] && tb_is_ours "$p" && alive+=("$p"); done
    ((${#alive[@]})) || return 0
    pids=("${alive[@]}")
    sleep 0.1
  done
  tb_log "killing ${pids[*]} (did not stop on SIGTERM)"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local alive=()
    for p in "${pids[@]}"; do [[ -e /proc/$p ]] && tb_is_ours "$p" && alive+=("$p"); done
    ((${#alive[@]})) || return 0
    sleep 0.1
  done
  tb_log "WARNING: still running: ${pids[*]}"
}

# tb_leftovers prints the PIDs of testbed processes still running: those
# started by kwokctl for this cluster or by us (their command line names a
# path in TESTBED_DIR) and whose executable is one of ours.
tb_leftovers() {
  local pid
  local pattern
  pattern=$(printf "%s/" "$TESTBED_DIR" | sed 's/[].[\*^$]/\\&/g')
  for pid in $(pgrep -f -- "$pattern" 2>/dev/null); do
    [[ $pid == "$$" ]] && continue
    if tb_is_ours "$pid"; then echo "$pid"; fi
  done
  return 0
}

# tb_port_busy HOST:PORT or PORT: something listens there.
tb_port_busy() {
  local port=${1##*:}
  [[ -n $(ss -Htln "sport = :$port" 2>/dev/null) ]]
}

# tb_apiserver_port prints the port of the testbed's apiserver, if known.
tb_apiserver_port() {
  [[ -s $KUBECONFIG_OUT ]] || return 0
  sed -n 's#^ *server: https://[^:]*:\([0-9]*\).*#\1#p' "$KUBECONFIG_OUT" | head -n1
}

kubectl_tb() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
