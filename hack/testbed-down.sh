#!/usr/bin/env bash
# hack/testbed-down.sh: stop the Faultline testbed of hack/testbed-up.sh and
# leave no process and no listening port behind, also after a failed,
# interrupted or killed bring-up or e2e run:
#
#   1. the operator an e2e run may have left (.testbed/operator.pid),
#      trafficsim, Prometheus and Alertmanager, by their recorded PIDs;
#   2. the kwok cluster, by `kwokctl delete cluster`, then by the PIDs kwokctl
#      recorded, then any process still running one of our executables with a
#      path of .testbed/ on its command line;
#   3. checks that none is left and the ports are free, then removes the state
#      (logs are kept for post-mortems).
#
# Usage: hack/testbed-down.sh   (make testbed-down). Exits non-zero if
# something could not be stopped.
set -Eeuo pipefail
# shellcheck source=hack/testbed-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/testbed-lib.sh"

tb_lock
[[ -d $TESTBED_DIR ]] || { tb_log "nothing to do (no $TESTBED_DIR)"; exit 0; }

ports=("$PROMETHEUS_ADDR" "$ALERTMANAGER_ADDR" "$TRAFFICSIM_ADDR")
api_port=$(tb_apiserver_port)
[[ -n $api_port ]] && ports+=("$api_port")

# 1. Our own processes, newest consumers first.
for name in operator trafficsim prometheus alertmanager; do
  f=$TESTBED_DIR/$name.pid
  [[ -e $f ]] || continue
  if tb_pidfile_alive "$f"; then
    tb_log "stopping $name ($(<"$f"))"
    tb_kill "$(<"$f")"
  fi
  rm -f "$f"
done

# 2. The cluster. kwokctl signals its processes and returns without waiting.
if [[ -d $CLUSTER_DIR ]]; then
  kwok_pids=()
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    [[ -e $f ]] && kwok_pids+=("$(<"$f")")
  done
  if [[ -x $BIN/kwokctl ]]; then
    tb_log "deleting kwok cluster $CLUSTER_NAME"
    "$BIN/kwokctl" --name "$CLUSTER_NAME" delete cluster --kubeconfig "$KUBECONFIG_OUT" \
      >>"$TESTBED_DIR/kwokctl.log" 2>&1 || tb_log "kwokctl delete cluster failed (see $TESTBED_DIR/kwokctl.log); killing by PID"
  fi
  ((${#kwok_pids[@]})) && tb_kill "${kwok_pids[@]}"
fi

leftovers=$(tb_leftovers)
if [[ -n $leftovers ]]; then
  tb_log "stopping leftover processes:"
  ps -o pid=,args= -p "$(paste -sd, <<<"$leftovers")" >&2 || true
  # shellcheck disable=SC2086
  tb_kill $leftovers
fi

# 3. Verify, then forget the state.
failed=0
leftovers=$(tb_leftovers)
if [[ -n $leftovers ]]; then
  tb_log "ERROR: still running:"
  ps -o pid=,args= -p "$(paste -sd, <<<"$leftovers")" >&2 || true
  failed=1
fi
for p in "${ports[@]}"; do
  # A port may linger a moment after its process is gone.
  for _ in $(seq 20); do tb_port_busy "$p" || break; sleep 0.1; done
  if tb_port_busy "$p"; then
    tb_log "WARNING: port ${p##*:} is still in use (not necessarily by the testbed):"
    ss -Hltnp "sport = :${p##*:}" >&2 || true
  fi
done
((failed == 0)) || exit 1

rm -rf "$KWOK_WORKDIR" "$TESTBED_DIR/prometheus" "$TESTBED_DIR/alertmanager" "$KUBECONFIG_OUT" "$TESTBED_DIR/kwokctl.yaml"
tb_log "down (logs kept in $TESTBED_DIR)"
