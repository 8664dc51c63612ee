#!/usr/bin/env bash
# hack/tools.sh: provides the binaries that envtest, the e2e testbed and the
# developers need: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, kwokctl, prometheus (and promtool), alertmanager
# (and amtool), helm.
#
# They are built from Go modules (through the Go module proxy), once per user,
# into a cache outside the clone, and symlinked into <repo>/bin.
#
# Usage:
#   hack/tools.sh all                  # everything (default when no argument)
#   hack/tools.sh NAME...              # some of them; NAME is one of
#                                      #   k8s (the four Kubernetes binaries), envtest
#                                      #   (etcd + kube-apiserver + kubectl), etcd,
#                                      #   kube-apiserver, kube-controller-manager,
#                                      #   kube-scheduler, kubectl, kwok (kwok+kwokctl),
#                                      #   kwokctl, prometheus (prometheus+promtool), promtool,
#                                      #   alertmanager (alertmanager+amtool), amtool,
#                                      #   helm (not in `all`: only the chart test needs it),
#                                      #   chromium (not in `all`: Debian's package, installed
#                                      #   with apt-get when missing; the HTML report's test)
#   hack/tools.sh --print-k8s-dir      # ensure envtest binaries, print their dir
#                                      #   (KUBEBUILDER_ASSETS=$(hack/tools.sh --print-k8s-dir))
#   hack/tools.sh --print-cache-dir    # print the cache root, build nothing
#
# Only progress lines go to stderr; stdout is used only by --print-*.
#
# Environment:
#   FAULTLINE_CACHE         cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/faultline)
#   KUBE_VERSION            Kubernetes release (default v1.37.1, see below)
#   ETCD_VERSION            etcd release, e.g. 3.7.0 (default: what k8s.io/kubernetes's
#                           go.mod requires for go.etcd.io/etcd/*)
#   KWOK_VERSION            default v0.8.0
#   PROMETHEUS_VERSION      Go module version of github.com/prometheus/prometheus,
#                           default v0.315.0 (= Prometheus 3.15.0; see below)
#   PROMETHEUS_TAGS         build tags, default netgo,remove_all_sd (only static, file and
#                           http service discovery; add e.g. enable_kubernetes_sd if needed)
#   ALERTMANAGER_VERSION    Go module version of github.com/prometheus/alertmanager,
#                           default v0.35.0 (the newest the module proxy serves)
#   HELM_VERSION            Go module version of helm.sh/helm/v3, default v3.22.0
#   FAULTLINE_PROMETHEUS_FROM_PATH=0  build Prometheus even if one is on PATH (default 1:
#                           a `prometheus` on PATH is used as it is)
#   FAULTLINE_TRY_DOWNLOAD=1  first try the upstream release downloads (dl.k8s.io,
#                           GitHub releases) with curl; any failure falls back to building.
#                           Default 0: build from Go modules, the path that works everywhere
#                           the Go module proxy is reachable.
#   FAULTLINE_DOWNLOAD_TIMEOUT  curl --max-time for those downloads (default 30 s)
#   FAULTLINE_VERBOSE=1     also say which tools are already present (default: silent
#                           when there is nothing to do)
#
# Why KUBE_VERSION defaults to v1.37.1 and not v1.37.2: the Go module proxy serves the
# go.mod of k8s.io/kubernetes@v1.37.2 but answers 403 "This module version is not
# available" for its source zip, so v1.37.2 cannot be built from modules. v1.37.1 has
# the identical go.mod (same dependencies, same etcd 3.7.0). Set KUBE_VERSION=v1.37.2
# (with FAULTLINE_TRY_DOWNLOAD=1 on a machine that reaches dl.k8s.io) to get it.
#
# Why Prometheus v0.315.0 (3.15.0) and not the newer v0.316.0 (3.16.0): v0.316.0 needs
# module versions the proxy answers 403 for (github.com/prometheus/client_golang/exp,
# github.com/google/pprof and github.com/pb33f/go-yaml at their 2026-10 versions);
# v0.315.0's whole build list downloads. Both need only Go 1.26.
#
# Prometheus is built without the web UI assets (the module has no built React app, so
# no `builtinassets` tag): the UI pages answer errors (/ redirects to /query, which
# answers 500), while the HTTP API (/api/v1/...), /metrics and /-/ready work.
#
# Concurrency: the whole run holds flock on $CACHE/.lock; a second invocation waits and
# then finds everything built. Binaries are built under a temporary name and renamed,
# so an interrupted build never leaves a binary that would later be reused.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FAULTLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/faultline}
KUBE_VERSION=${KUBE_VERSION:-v1.37.1}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.315.0}
PROMETHEUS_TAGS=${PROMETHEUS_TAGS:-netgo,remove_all_sd}
ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-v0.35.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
FAULTLINE_TRY_DOWNLOAD=${FAULTLINE_TRY_DOWNLOAD:-0}
FAULTLINE_DOWNLOAD_TIMEOUT=${FAULTLINE_DOWNLOAD_TIMEOUT:-30}
FAULTLINE_PROMETHEUS_FROM_PATH=${FAULTLINE_PROMETHEUS_FROM_PATH:-1}

K8S_DIR=$CACHE/k8s/$KUBE_VERSION
TOOLS_DIR=$CACHE/tools
SRC_DIR=$CACHE/src
BIN_DIR=$REPO_ROOT/bin
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

log() { echo "tools.sh: $*" >&2; }
vlog() { [[ ${FAULTLINE_VERBOSE:-0} != 1 ]] || log "$@"; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s; }

# cpu_now: sets CPU to the user+sys CPU seconds used so far by this script's finished
# children. `times` must not run in a subshell (it would count the subshell's children
# only), hence a variable and a file rather than $(...).
CPU=0
cpu_now() {
  times >"$CACHE/.times.$$"
  CPU=$(tail -n1 "$CACHE/.times.$$" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] } printf "%.0f\n", s }')
  rm -f "$CACHE/.times.$$"
}

# quiet LOGNAME CMD...: runs CMD with its output in $CACHE/logs/LOGNAME.log; shows the
# end of that log on failure. Keeps go's "go: downloading ..." chatter off the terminal.
quiet() {
  local logf=$CACHE/logs/$1.log
  shift
  mkdir -p "$CACHE/logs"
  if "$@" >"$logf" 2>&1; then
    return 0
  fi
  log "command failed: $* (full log: $logf)"
  tail -n 40 "$logf" >&2
  return 1
}

# The wrapper modules are built in isolation from whatever the caller's environment
# says about modules (a GOFLAGS=-mod=vendor, a go.work above the cache, ...).
gobuild_env() {
  env GOWORK=off GOFLAGS=-buildvcs=false GO111MODULE=on "$@"
}

goos() { go env GOOS; }
goarch() { go env GOARCH; }

# --- helpers ---------------------------------------------------------------

# version_ok BINARY EXPECTED_SUBSTRING ARGS...: true if `BINARY ARGS` prints EXPECTED.
version_ok() {
  local bin=$1 want=$2
  shift 2
  [[ -x $bin ]] || return 1
  local out
  out=$("$bin" "$@" 2>&1) || return 1
  [[ $out == *"$want"* ]]
}

# try_download URL DEST: fetches URL to DEST (tmp name then rename).
try_download() {
  local url=$1 dest=$2
  log "downloading $url"
  if curl --max-time "$FAULTLINE_DOWNLOAD_TIMEOUT" -fsSL -o "$dest.tmp.$$" "$url"; then
    mv -f "$dest.tmp.$$" "$dest"
    return 0
  fi
  rm -f "$dest.tmp.$$"
  log "download failed: $url"
  return 1
}

json_field() { # json_field FIELD < `go ... -json` output
  sed -n "s/^\t\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n1
}

# gomod_path MODULE VERSION: local path of the module's go.mod (fetches .mod/.info, not the zip).
gomod_path() {
  (cd / && gobuild_env go list -m -json "$1@$2" 2>/dev/null | json_field GoMod) || true
}

# origin_hash MODULE VERSION: the VCS commit the proxy records for a version, if any.
origin_hash() {
  local gm info
  gm=$(gomod_path "$1" "$2")
  info=${gm%.mod}.info
  [[ -n $gm && -f $info ]] || return 0
  tr -d ' \n' <"$info" | sed -n 's/.*"Hash":"\([0-9a-f]*\)".*/\1/p'
}

# --- Kubernetes ------------------------------------------------------------

KUBE_GOMOD=""
k8s_gomod() {
  if [[ -z $KUBE_GOMOD ]]; then
    KUBE_GOMOD=$(gomod_path k8s.io/kubernetes "$KUBE_VERSION")
    [[ -n $KUBE_GOMOD && -f $KUBE_GOMOD ]] || die "cannot get go.mod of k8s.io/kubernetes@$KUBE_VERSION from the module proxy"
  fi
  echo "$KUBE_GOMOD"
}

# etcd version: what k8s.io/kubernetes requires for go.etcd.io/etcd/server/v3 (or client/v3).
etcd_version() {
  if [[ -z ${ETCD_VERSION:-} ]]; then
    local gm v
    gm=$(k8s_gomod)
    v=$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v3\./ {print $2; exit}' "$gm")
    [[ -n $v ]] || v=$(awk '$1=="go.etcd.io/etcd/client/v3" && $2 ~ /^v3\./ {print $2; exit}' "$gm")
    [[ -n $v ]] || die "cannot find the etcd version in $gm"
    ETCD_VERSION=${v#v}
  fi
  echo "${ETCD_VERSION#v}"
}

k8s_binary_ok() { # k8s_binary_ok NAME
  local b=$K8S_DIR/$1
  if [[ $1 == kubectl ]]; then
    version_ok "$b" "Client Version: $KUBE_VERSION" version --client
  else
    version_ok "$b" "Kubernetes $KUBE_VERSION" --version
  fi
}

# k8s_wrapper_dir: a module requiring k8s.io/kubernetes whose staging modules are
# replaced with the published v0.X.Y of the same release.
k8s_wrapper_dir() {
  local dir=$SRC_DIR/k8s-$KUBE_VERSION
  local gm staging_ver godir
  gm=$(k8s_gomod)
  staging_ver=v0.${KUBE_VERSION#v1.}
  if [[ ! -f $dir/go.mod.done ]]; then
    mkdir -p "$dir"
    godir=$(awk '$1=="go" {print $2; exit}' "$gm")
    {
      echo "// Generated by hack/tools.sh: builds k8s.io/kubernetes@$KUBE_VERSION from the module proxy."
      echo "module faultline.local/k8s-tools"
      echo
      echo "go ${godir:-1.26.0}"
      # Main-module-only settings of kubernetes' go.mod (godebug) must be repeated here.
      grep -E '^godebug ' "$gm" || true
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      # Every module kubernetes replaces with ./staging/src/k8s.io/... (block or single-line form).
      awk '($2=="=>" && $3 ~ /^\.\/staging\//) {print $1} ($1=="replace" && $3=="=>" && $4 ~ /^\.\/staging\//) {print $2}' "$gm" |
        sort -u | while read -r m; do
          echo "	$m => $m $staging_ver"
        done
      echo ")"
    } >"$dir/go.mod.tmp"
    grep -q "=> k8s.io/api $staging_ver" "$dir/go.mod.tmp" || die "found no staging replace directives in $gm"
    mv -f "$dir/go.mod.tmp" "$dir/go.mod"
    : >"$dir/go.sum"
    touch "$dir/go.mod.done"
  fi
  echo "$dir"
}

k8s_ldflags() {
  local ver=${KUBE_VERSION#v} major minor commit date
  major=${ver%%.*}
  minor=${ver#*.}
  minor=${minor%%.*}
  commit=$(origin_hash k8s.io/kubernetes "$KUBE_VERSION")
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
    [[ -z $commit ]] || flags+=" -X $pkg.gitCommit=$commit"
  done
  echo "$flags"
}

k8s_try_download() { # k8s_try_download NAME
  [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]] || return 1
  try_download "https://dl.k8s.io/release/$KUBE_VERSION/bin/$(goos)/$(goarch)/$1" "$K8S_DIR/$1.dl" || return 1
  chmod +x "$K8S_DIR/$1.dl"
  mv -f "$K8S_DIR/$1.dl" "$K8S_DIR/$1"
  k8s_binary_ok "$1" || { log "downloaded $1 does not report $KUBE_VERSION"; rm -f "$K8S_DIR/$1"; return 1; }
}

ensure_k8s() { # ensure_k8s NAME...
  local names=("$@") todo=() n
  mkdir -p "$K8S_DIR"
  for n in "${names[@]}"; do
    if k8s_binary_ok "$n"; then
      vlog "$n $KUBE_VERSION: present"
    elif k8s_try_download "$n"; then
      log "$n $KUBE_VERSION: downloaded"
    else
      todo+=("$n")
    fi
  done
  [[ ${#todo[@]} -gt 0 ]] || return 0

  local dir ldflags t0 t1 c0
  dir=$(k8s_wrapper_dir)
  ldflags=$(k8s_ldflags)
  local pkgs=()
  for n in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  log "resolving and downloading modules for ${todo[*]} (k8s.io/kubernetes@$KUBE_VERSION) ..."
  t0=$(now)
  (cd "$dir" && quiet k8s-mod gobuild_env CGO_ENABLED=0 go list -mod=mod -deps -tags=selinux,notest,grpcnotrace "${pkgs[@]}") ||
    die "module download for k8s.io/kubernetes@$KUBE_VERSION failed (is its zip on the module proxy?)"
  t1=$(now)
  log "modules ready in $((t1 - t0))s"
  for n in "${todo[@]}"; do
    log "building $n $KUBE_VERSION ..."
    t0=$(now); cpu_now; c0=$CPU
    (cd "$dir" && quiet "build-$n" gobuild_env CGO_ENABLED=0 go build -mod=mod -trimpath \
      -tags=selinux,notest,grpcnotrace -ldflags "$ldflags" \
      -o "$K8S_DIR/.$n.tmp.$$" "k8s.io/kubernetes/cmd/$n") || { rm -f "$K8S_DIR/.$n.tmp.$$"; die "build of $n failed"; }
    mv -f "$K8S_DIR/.$n.tmp.$$" "$K8S_DIR/$n"
    t1=$(now)
    k8s_binary_ok "$n" || die "$K8S_DIR/$n does not report $KUBE_VERSION"
    cpu_now
    log "built $n in $((t1 - t0))s (cpu $((CPU - c0))s)"
  done
}

# --- etcd ------------------------------------------------------------------

ensure_etcd() {
  local ver b=$K8S_DIR/etcd
  ver=$(etcd_version)
  mkdir -p "$K8S_DIR"
  if version_ok "$b" "etcd Version: $ver" --version; then
    vlog "etcd $ver: present"
    return 0
  fi
  if [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]]; then
    local tmpd
    tmpd=$(mktemp -d "$K8S_DIR/.etcd-dl.XXXXXX")
    local name
    name="etcd-v$ver-$(goos)-$(goarch)"
    if try_download "https://github.com/etcd-io/etcd/releases/download/v$ver/$name.tar.gz" "$tmpd/etcd.tgz" &&
      tar -xzf "$tmpd/etcd.tgz" -C "$tmpd" "$name/etcd" &&
      version_ok "$tmpd/$name/etcd" "etcd Version: $ver" --version; then
      mv -f "$tmpd/$name/etcd" "$b"
      rm -rf "$tmpd"
      log "etcd $ver: downloaded"
      return 0
    fi
    rm -rf "$tmpd"
  fi

  local dir=$SRC_DIR/etcd-v$ver t0 t1 c0 commit
  mkdir -p "$dir"
  if [[ ! -f $dir/go.mod ]]; then
    printf '// Generated by hack/tools.sh.\nmodule faultline.local/etcd-tools\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ver" >"$dir/go.mod.tmp"
    mv -f "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  commit=$(origin_hash go.etcd.io/etcd/server/v3 "v$ver")
  log "resolving and downloading modules for etcd v$ver ..."
  t0=$(now)
  (cd "$dir" && quiet etcd-mod gobuild_env CGO_ENABLED=0 go list -mod=mod -deps go.etcd.io/etcd/server/v3) ||
    die "module download for go.etcd.io/etcd/server/v3@v$ver failed"
  t1=$(now)
  log "modules ready in $((t1 - t0))s"
  log "building etcd $ver ..."
  t0=$(now); cpu_now; c0=$CPU
  commit=${commit:0:12}
  (cd "$dir" && quiet build-etcd gobuild_env CGO_ENABLED=0 go build -mod=mod -trimpath \
    -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${commit:-go-module}" \
    -o "$K8S_DIR/.etcd.tmp.$$" go.etcd.io/etcd/server/v3) || { rm -f "$K8S_DIR/.etcd.tmp.$$"; die "build of etcd failed"; }
  mv -f "$K8S_DIR/.etcd.tmp.$$" "$b"
  t1=$(now)
  version_ok "$b" "etcd Version: $ver" --version || die "$b does not report $ver"
  cpu_now
  log "built etcd in $((t1 - t0))s (cpu $((CPU - c0))s)"
}

# --- kwok ------------------------------------------------------------------

KWOK_DIR=$TOOLS_DIR/kwok-$KWOK_VERSION

ensure_kwok() {
  local n ver=${KWOK_VERSION#v} t0 t1 c0
  mkdir -p "$KWOK_DIR"
  for n in kwok kwokctl; do
    if version_ok "$KWOK_DIR/$n" "$ver" --version; then
      vlog "$n $KWOK_VERSION: present"
      continue
    fi
    if [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]] &&
      try_download "https://github.com/kubernetes-sigs/kwok/releases/download/$KWOK_VERSION/$n-$(goos)-$(goarch)" "$KWOK_DIR/.$n.dl"; then
      chmod +x "$KWOK_DIR/.$n.dl"
      if version_ok "$KWOK_DIR/.$n.dl" "$ver" --version; then
        mv -f "$KWOK_DIR/.$n.dl" "$KWOK_DIR/$n"
        log "$n $KWOK_VERSION: downloaded"
        continue
      fi
      rm -f "$KWOK_DIR/.$n.dl"
    fi
    log "building $n $KWOK_VERSION (download + build) ..."
    t0=$(now); cpu_now; c0=$CPU
    local gobin
    gobin=$(mktemp -d "$KWOK_DIR/.gobin.XXXXXX")
    (cd / && quiet "build-$n" gobuild_env CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kwok/cmd/$n@$KWOK_VERSION") || { rm -rf "$gobin"; die "go install of $n failed"; }
    mv -f "$gobin/$n" "$KWOK_DIR/$n"
    rm -rf "$gobin"
    t1=$(now)
    version_ok "$KWOK_DIR/$n" "$ver" --version || die "$KWOK_DIR/$n does not report $ver"
    cpu_now
    log "built $n in $((t1 - t0))s (cpu $((CPU - c0))s)"
  done
}

# --- Prometheus ------------------------------------------------------------

# Prometheus' Go module v0.MMM.P is release (MMM/100).(MMM%100).P: v0.315.0 = 3.15.0.
prometheus_release() {
  local v=${PROMETHEUS_VERSION#v0.}
  local mmm=${v%%.*} patch=${v#*.}
  echo "$((mmm / 100)).$((mmm % 100)).$patch"
}

PROM_DIR=""
prometheus_dir() { echo "$TOOLS_DIR/prometheus-$(prometheus_release)"; }

ensure_prometheus() { # ensure_prometheus NAME... (prometheus and/or promtool)
  local rel n t0 t1 c0
  rel=$(prometheus_release)
  PROM_DIR=$(prometheus_dir)
  local want=("$@")
  if [[ $FAULTLINE_PROMETHEUS_FROM_PATH == 1 ]] && command -v prometheus >/dev/null 2>&1 &&
    [[ $(command -v prometheus) != "$BIN_DIR/prometheus" ]]; then
    log "prometheus: using the one on PATH: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"
    return 0
  fi
  mkdir -p "$PROM_DIR"
  local todo=()
  for n in "${want[@]}"; do
    if version_ok "$PROM_DIR/$n" "version $rel" --version; then
      vlog "$n $rel: present"
    else
      todo+=("$n")
    fi
  done
  [[ ${#todo[@]} -gt 0 ]] || return 0

  if [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]]; then
    local tmpd name
    name="prometheus-$rel.$(goos)-$(goarch)"
    tmpd=$(mktemp -d "$PROM_DIR/.dl.XXXXXX")
    if try_download "https://github.com/prometheus/prometheus/releases/download/v$rel/$name.tar.gz" "$tmpd/p.tgz" &&
      tar -xzf "$tmpd/p.tgz" -C "$tmpd" "$name/prometheus" "$name/promtool"; then
      local okall=1
      for n in "${todo[@]}"; do
        if version_ok "$tmpd/$name/$n" "version $rel" --version; then
          mv -f "$tmpd/$name/$n" "$PROM_DIR/$n"
        else
          okall=0
        fi
      done
      rm -rf "$tmpd"
      if [[ $okall == 1 ]]; then
        log "prometheus $rel: downloaded"
        return 0
      fi
    fi
    rm -rf "$tmpd"
  fi

  local dir=$SRC_DIR/prometheus-$PROMETHEUS_VERSION commit
  mkdir -p "$dir"
  if [[ ! -f $dir/go.mod ]]; then
    printf '// Generated by hack/tools.sh.\nmodule faultline.local/prometheus-tools\n\ngo 1.26\n\nrequire github.com/prometheus/prometheus %s\n' "$PROMETHEUS_VERSION" >"$dir/go.mod.tmp"
    mv -f "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  commit=$(origin_hash github.com/prometheus/prometheus "$PROMETHEUS_VERSION")
  local ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$rel"
  ldflags+=" -X github.com/prometheus/common/version.Revision=${commit:-unknown}"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=faultline-hack-tools"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  local pkgs=()
  for n in "${todo[@]}"; do pkgs+=("github.com/prometheus/prometheus/cmd/$n"); done
  log "resolving and downloading modules for ${todo[*]} $rel (tags $PROMETHEUS_TAGS) ..."
  t0=$(now)
  (cd "$dir" && quiet prometheus-mod gobuild_env CGO_ENABLED=0 go list -mod=mod -deps -tags="$PROMETHEUS_TAGS" "${pkgs[@]}") ||
    die "module download for github.com/prometheus/prometheus@$PROMETHEUS_VERSION failed"
  t1=$(now)
  log "modules ready in $((t1 - t0))s"
  for n in "${todo[@]}"; do
    log "building $n $rel ..."
    t0=$(now); cpu_now; c0=$CPU
    (cd "$dir" && quiet "build-$n" gobuild_env CGO_ENABLED=0 go build -mod=mod -trimpath -tags="$PROMETHEUS_TAGS" \
      -ldflags "$ldflags" -o "$PROM_DIR/.$n.tmp.$$" "github.com/prometheus/prometheus/cmd/$n") ||
      { rm -f "$PROM_DIR/.$n.tmp.$$"; die "build of $n failed"; }
    mv -f "$PROM_DIR/.$n.tmp.$$" "$PROM_DIR/$n"
    t1=$(now)
    version_ok "$PROM_DIR/$n" "version $rel" --version || die "$PROM_DIR/$n does not report $rel"
    cpu_now
    log "built $n in $((t1 - t0))s (cpu $((CPU - c0))s)"
  done
}

# --- Alertmanager ----------------------------------------------------------

# Alertmanager's Go module versions are its release versions (v0.35.0 = 0.35.0), so
# no mapping as for Prometheus. Its module zip lacks the built web UI that
# ui/web.go embeds (//go:embed app/dist, made by npm at release time), so the build
# uses a copy of the module with a one-page placeholder there, through a replace
# directive: the UI pages say it is not built, while the HTTP API (/api/v2/...),
# /-/ready and the notifiers (the webhook the testbed uses) work.
ALERTMANAGER_DIR=$TOOLS_DIR/alertmanager-$ALERTMANAGER_VERSION

# alertmanager_src DIR: copies the module's source into DIR/alertmanager (from the
# module cache, downloaded first) and adds the placeholder UI.
alertmanager_src() {
  local dir=$1 modsrc
  [[ -f $dir/alertmanager/.done ]] && return 0
  modsrc=$(cd / && gobuild_env go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" | json_field Dir)
  [[ -n $modsrc && -d $modsrc ]] || die "cannot download github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION from the module proxy"
  rm -rf "$dir/alertmanager" "$dir/.alertmanager.tmp"
  cp -R "$modsrc" "$dir/.alertmanager.tmp"
  chmod -R u+w "$dir/.alertmanager.tmp"
  local ui
  for ui in elm mantine; do
    mkdir -p "$dir/.alertmanager.tmp/ui/app/dist/$ui"
    printf '<!doctype html><title>Alertmanager</title><p>This Alertmanager was built from Go modules without its web UI; the HTTP API is at /api/v2/.\n' \
      >"$dir/.alertmanager.tmp/ui/app/dist/$ui/index.html"
  done
  mv "$dir/.alertmanager.tmp" "$dir/alertmanager"
  touch "$dir/alertmanager/.done"
}

ensure_alertmanager() { # ensure_alertmanager NAME... (alertmanager and/or amtool)
  local rel=${ALERTMANAGER_VERSION#v} n t0 t1 c0
  mkdir -p "$ALERTMANAGER_DIR"
  local todo=()
  for n in "$@"; do
    if version_ok "$ALERTMANAGER_DIR/$n" "version $rel" --version; then
      vlog "$n $rel: present"
    else
      todo+=("$n")
    fi
  done
  [[ ${#todo[@]} -gt 0 ]] || return 0

  if [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]]; then
    local tmpd name
    name="alertmanager-$rel.$(goos)-$(goarch)"
    tmpd=$(mktemp -d "$ALERTMANAGER_DIR/.dl.XXXXXX")
    if try_download "https://github.com/prometheus/alertmanager/releases/download/v$rel/$name.tar.gz" "$tmpd/a.tgz" &&
      tar -xzf "$tmpd/a.tgz" -C "$tmpd" "$name/alertmanager" "$name/amtool"; then
      local okall=1
      for n in "${todo[@]}"; do
        if version_ok "$tmpd/$name/$n" "version $rel" --version; then
          mv -f "$tmpd/$name/$n" "$ALERTMANAGER_DIR/$n"
        else
          okall=0
        fi
      done
      rm -rf "$tmpd"
      if [[ $okall == 1 ]]; then
        log "alertmanager $rel: downloaded"
        return 0
      fi
    fi
    rm -rf "$tmpd"
  fi

  local dir=$SRC_DIR/alertmanager-$ALERTMANAGER_VERSION commit
  mkdir -p "$dir"
  alertmanager_src "$dir"
  if [[ ! -f $dir/go.mod ]]; then
    printf '// Generated by hack/tools.sh.\nmodule faultline.local/alertmanager-tools\n\ngo 1.26\n\nrequire github.com/prometheus/alertmanager %s\n\nreplace github.com/prometheus/alertmanager => ./alertmanager\n' \
      "$ALERTMANAGER_VERSION" >"$dir/go.mod.tmp"
    mv -f "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  commit=$(origin_hash github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION")
  local ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$rel"
  ldflags+=" -X github.com/prometheus/common/version.Revision=${commit:-unknown}"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=faultline-hack-tools"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  local pkgs=()
  for n in "${todo[@]}"; do pkgs+=("github.com/prometheus/alertmanager/cmd/$n"); done
  log "resolving and downloading modules for ${todo[*]} $rel ..."
  t0=$(now)
  (cd "$dir" && quiet alertmanager-mod gobuild_env CGO_ENABLED=0 go list -mod=mod -deps "${pkgs[@]}") ||
    die "module download for github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION failed"
  t1=$(now)
  log "modules ready in $((t1 - t0))s"
  for n in "${todo[@]}"; do
    log "building $n $rel ..."
    t0=$(now); cpu_now; c0=$CPU
    (cd "$dir" && quiet "build-$n" gobuild_env CGO_ENABLED=0 go build -mod=mod -trimpath \
      -ldflags "$ldflags" -o "$ALERTMANAGER_DIR/.$n.tmp.$$" "github.com/prometheus/alertmanager/cmd/$n") ||
      { rm -f "$ALERTMANAGER_DIR/.$n.tmp.$$"; die "build of $n failed"; }
    mv -f "$ALERTMANAGER_DIR/.$n.tmp.$$" "$ALERTMANAGER_DIR/$n"
    t1=$(now)
    version_ok "$ALERTMANAGER_DIR/$n" "version $rel" --version || die "$ALERTMANAGER_DIR/$n does not report $rel"
    cpu_now
    log "built $n in $((t1 - t0))s (cpu $((CPU - c0))s)"
  done
}

# --- Helm ------------------------------------------------------------------

# helm renders and lints charts/faultline in the chart test (internal/charttest).
# Its Go module versions are its release versions; the version is stamped as the
# release's Makefile does, so `helm version` reports it.
HELM_DIR=$TOOLS_DIR/helm-$HELM_VERSION

ensure_helm() {
  local b=$HELM_DIR/helm t0 t1 c0 gobin
  mkdir -p "$HELM_DIR"
  if version_ok "$b" "$HELM_VERSION" version --short; then
    vlog "helm $HELM_VERSION: present"
    return 0
  fi
  if [[ $FAULTLINE_TRY_DOWNLOAD == 1 ]]; then
    local tmpd name
    name="$(goos)-$(goarch)"
    tmpd=$(mktemp -d "$HELM_DIR/.dl.XXXXXX")
    if try_download "https://get.helm.sh/helm-$HELM_VERSION-$name.tar.gz" "$tmpd/h.tgz" &&
      tar -xzf "$tmpd/h.tgz" -C "$tmpd" "$name/helm" &&
      version_ok "$tmpd/$name/helm" "$HELM_VERSION" version --short; then
      mv -f "$tmpd/$name/helm" "$b"
      rm -rf "$tmpd"
      log "helm $HELM_VERSION: downloaded"
      return 0
    fi
    rm -rf "$tmpd"
  fi
  # The Kubernetes version helm assumes (.Capabilities.KubeVersion in
  # `helm template`, the deprecation checks of `helm lint`) is, as in its
  # release builds, that of the client-go it is built with.
  local gm kmaj kmin ldflags
  gm=$(gomod_path helm.sh/helm/v3 "$HELM_VERSION")
  [[ -n $gm && -f $gm ]] || die "cannot get go.mod of helm.sh/helm/v3@$HELM_VERSION from the module proxy"
  kmin=$(awk '$1=="k8s.io/client-go" {sub(/^v0\./, "", $2); sub(/\..*/, "", $2); print $2; exit}' "$gm")
  kmaj=1
  [[ -n $kmin ]] || die "cannot find the client-go version in $gm"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$kmaj -X $pkg.k8sVersionMinor=$kmin"
  done
  log "building helm $HELM_VERSION (download + build) ..."
  t0=$(now); cpu_now; c0=$CPU
  gobin=$(mktemp -d "$HELM_DIR/.gobin.XXXXXX")
  (cd / && quiet build-helm gobuild_env CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags "$ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") || { rm -rf "$gobin"; die "go install of helm failed"; }
  mv -f "$gobin/helm" "$b"
  rm -rf "$gobin"
  t1=$(now)
  version_ok "$b" "$HELM_VERSION" version --short || die "$b does not report $HELM_VERSION"
  cpu_now
  log "built helm in $((t1 - t0))s (cpu $((CPU - c0))s)"
}

# --- Chromium --------------------------------------------------------------

# chromium renders the HTML report in a real browser in the report's test
# (experiments/report). No Go module builds a browser: it is Debian's package,
# the one CI installs, used from PATH and never linked into bin/.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    vlog "chromium: present ($(command -v chromium))"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "chromium is not on PATH and apt-get is not available: install a Chromium that runs as \`chromium\` (your system's package), or run \`go test\` without FAULTLINE_REQUIRE_CHROMIUM, where the browser test skips"
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo -n)
  log "installing chromium with apt-get ..."
  if ! quiet apt-get-chromium "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; then
    # A fresh machine may not have the package lists yet.
    quiet apt-get-update "${sudo[@]}" apt-get update ||
      die "apt-get update failed: install chromium by hand (apt-get install chromium)"
    quiet apt-get-chromium "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium ||
      die "apt-get install chromium failed: install it by hand"
  fi
  command -v chromium >/dev/null 2>&1 || die "apt-get installed chromium, but \`chromium\` is not on PATH"
  log "chromium: installed ($(command -v chromium))"
}

# --- bin/ symlinks ---------------------------------------------------------

link() { # link TARGET NAME
  [[ -x $1 ]] || return 0
  mkdir -p "$BIN_DIR"
  ln -sfn "$1" "$BIN_DIR/$2"
}

link_all() {
  local n
  for n in etcd "${K8S_BINARIES[@]}"; do link "$K8S_DIR/$n" "$n"; done
  for n in kwok kwokctl; do link "$KWOK_DIR/$n" "$n"; done
  for n in alertmanager amtool; do link "$ALERTMANAGER_DIR/$n" "$n"; done
  link "$HELM_DIR/helm" helm
  if [[ $FAULTLINE_PROMETHEUS_FROM_PATH == 1 ]] && command -v prometheus >/dev/null 2>&1 &&
    [[ $(command -v prometheus) != "$BIN_DIR/prometheus" ]]; then
    link "$(command -v prometheus)" prometheus
    command -v promtool >/dev/null 2>&1 && link "$(command -v promtool)" promtool
  else
    local pd
    pd=$(prometheus_dir)
    for n in prometheus promtool; do link "$pd/$n" "$n"; done
  fi
}

# --- main ------------------------------------------------------------------

lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  if ! flock -n 9; then
    log "waiting for $CACHE/.lock (another hack/tools.sh is running) ..."
    flock 9
  fi
}

main() {
  local print_k8s=0 args=()
  [[ $# -gt 0 ]] || set -- all
  for a in "$@"; do
    case $a in
      --print-cache-dir) echo "$CACHE"; return 0 ;;
      --print-k8s-dir) print_k8s=1; args+=(envtest) ;;
      -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; return 0 ;;
      *) args+=("$a") ;;
    esac
  done
  command -v go >/dev/null 2>&1 || die "go is not on PATH"

  local want_etcd=0 want_kwok=0 want_helm=0 k8s=() prom=() am=() a
  local want_chromium=0
  for a in "${args[@]}"; do
    case $a in
      all) want_etcd=1; k8s+=("${K8S_BINARIES[@]}"); want_kwok=1; prom+=(prometheus promtool); am+=(alertmanager amtool) ;;
      k8s) k8s+=("${K8S_BINARIES[@]}") ;;
      envtest) want_etcd=1; k8s+=(kube-apiserver kubectl) ;;
      etcd) want_etcd=1 ;;
      kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) k8s+=("$a") ;;
      kwok | kwokctl) want_kwok=1 ;;
      prometheus | promtool) prom+=("$a") ;;
      alertmanager) am+=(alertmanager amtool) ;;
      amtool) am+=(amtool) ;;
      helm) want_helm=1 ;;
      chromium) want_chromium=1 ;;
      *) die "unknown tool '$a' (see hack/tools.sh --help)" ;;
    esac
  done

  lock
  local t0
  t0=$(now)
  [[ $want_etcd == 0 ]] || ensure_etcd
  if [[ ${#k8s[@]} -gt 0 ]]; then
    # de-duplicate, keep the order of K8S_BINARIES
    local uniq=() n
    for n in "${K8S_BINARIES[@]}"; do [[ " ${k8s[*]} " != *" $n "* ]] || uniq+=("$n"); done
    ensure_k8s "${uniq[@]}"
  fi
  [[ $want_kwok == 0 ]] || ensure_kwok
  if [[ ${#prom[@]} -gt 0 ]]; then
    local puniq=()
    for n in prometheus promtool; do [[ " ${prom[*]} " != *" $n "* ]] || puniq+=("$n"); done
    ensure_prometheus "${puniq[@]}"
  fi
  if [[ ${#am[@]} -gt 0 ]]; then
    local auniq=()
    for n in alertmanager amtool; do [[ " ${am[*]} " != *" $n "* ]] || auniq+=("$n"); done
    ensure_alertmanager "${auniq[@]}"
  fi
  [[ $want_helm == 0 ]] || ensure_helm
  [[ $want_chromium == 0 ]] || ensure_chromium
  link_all
  [[ $(($(now) - t0)) -lt 5 ]] || log "done in $(($(now) - t0))s"
  [[ $print_k8s == 0 ]] || echo "$K8S_DIR"
}

main "$@"
