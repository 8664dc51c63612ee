#!/usr/bin/env bash
# hack/tools.sh: provides the binaries that envtest, the e2e testbed and the
# developers need: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, kwokctl, prometheus (and promtool), alertmanager
# (and amtool), helm.
#
# They are built from Go modules (through the Go module proxy), once per user,
# into a cache outside the clone, and symlinked into <repo>/bin. Every one goes
# through one recipe, fetch_or_build (keep what is there and reports its version,
# else try the upstream download if asked to, else build from Go modules); each
# tool is one call of it below (ensure_etcd, ensure_k8s, ...).
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
#                                      #   with apt-get when missing; the HTML report's test),
#                                      #   shellcheck (not in `all`: Debian's package, installed
#                                      #   with apt-get when missing; make lint-shell)
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

# wrapper_module SUBDIR NAME MODULE VERSION [DIRECTIVE]: prints $SRC_DIR/SUBDIR, a
# module faultline.local/NAME that requires MODULE@VERSION (plus DIRECTIVE, e.g. a
# replace), written once. Building a command of MODULE inside it uses MODULE's own
# requirements, as `go install MODULE/cmd/X@VERSION` would, but lets the build add
# tags, ldflags and replace directives, which go install refuses.
wrapper_module() {
  local dir=$SRC_DIR/$1
  mkdir -p "$dir"
  if [[ ! -f $dir/go.mod ]]; then
    printf '// Generated by hack/tools.sh.\nmodule faultline.local/%s\n\ngo 1.26\n\nrequire %s %s\n' "$2" "$3" "$4" >"$dir/go.mod.tmp"
    [[ -z ${5:-} ]] || printf '\n%s\n' "$5" >>"$dir/go.mod.tmp"
    mv -f "$dir/go.mod.tmp" "$dir/go.mod"
  fi
  echo "$dir"
}

# --- the recipe: fetch or build ----------------------------------------------

# fetch_or_build KEY=VALUE...: makes sure every binary of one tool is in its
# directory and reports the expected version. It is the one recipe every Go-built
# tool goes through:
#   1. a binary that is there and reports the version is kept, and nothing else runs
#      (not even a look at the module proxy);
#   2. with FAULTLINE_TRY_DOWNLOAD=1 and a url, each missing binary is downloaded
#      (a bare binary, or a member of a .tar.gz fetched once for all of them) and
#      kept only if it reports the version; every failure falls through to 3;
#   3. the rest are built from Go modules under a temporary name, renamed into
#      place, and checked, so an interrupted build never leaves a binary that a
#      later run would take for a good one.
# {bin}, {os} and {arch} in url, member, install and pkg are replaced by the
# binary's name and `go env GOOS`/`GOARCH`.
#
# Keys:
#   tool=NAME        the module download's log is logs/NAME-mod.log (each build's
#                    is logs/build-BIN.log)
#   version=V        the version named in messages
#   dir=DIR          where the binaries go
#   bins="B..."      the binaries, in build order
#   want=S           a binary is good if `BIN CHECK` prints S ...
#   check="ARGS"     ... with CHECK these arguments (default --version)
#   verify=FN        instead of want/check: `FN BIN PATH` says whether PATH is a good BIN
#   url=URL          the upstream release download, tried with FAULTLINE_TRY_DOWNLOAD=1
#   member=PATH      the binary's path inside the .tar.gz at url (unset: url is the binary)
#   install=PKG@V    build with `go install PKG@V` outside any module (one binary each)
#   pkg=PKG          or build PKG with `go build` in the wrapper module setup= makes,
#                    after one `go list -deps` downloads the modules of all of them
#   module=M@V       what pkg= builds from, for messages
#   tags=T           build tags (pkg= only)
#   ldflags=FLAGS    linker flags (default -s -w)
#   setup=FN         called once, only when something is to be built; it sets the
#                    caller's `moddir` (the wrapper module, for pkg=) and may set
#                    `ldflags` (a version stamp that needs the module proxy)
fetch_or_build() {
  local tool="" version="" dir="" bins="" want="" check=--version verify="" url="" member=""
  local install="" pkg="" module="" tags="" ldflags="-s -w" setup="" moddir="" kv
  for kv in "$@"; do
    case ${kv%%=*} in
      tool | version | dir | bins | want | check | verify | url | member | install | pkg | module | tags | ldflags | setup)
        printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
      *) die "fetch_or_build: unknown key in '$kv'" ;;
    esac
  done
  [[ -n $pkg || -n $install ]] || die "fetch_or_build $tool: neither pkg= nor install="

  local names todo=() n
  read -ra names <<<"$bins"
  mkdir -p "$dir"
  for n in "${names[@]}"; do
    if fob_good "$n" "$dir/$n"; then
      vlog "$n $version: present"
    else
      todo+=("$n")
    fi
  done
  [[ ${#todo[@]} -gt 0 ]] || return 0

  if [[ $FAULTLINE_TRY_DOWNLOAD == 1 && -n $url ]]; then
    local tmpd u f got left=() failed=" "
    tmpd=$(mktemp -d "$dir/.dl.XXXXXX")
    for n in "${todo[@]}"; do
      u=$(expand "$url" "$n")
      f=$tmpd/${u##*/}
      got=""
      # An archive holds every binary: fetch it once, and a failed URL only once.
      if [[ -f $f ]] || { [[ $failed != *" $u "* ]] && try_download "$u" "$f"; }; then
        if [[ -z $member ]]; then
          got=$f
          chmod +x "$got"
        elif tar -xzf "$f" -C "$tmpd" "$(expand "$member" "$n")"; then
          got=$tmpd/$(expand "$member" "$n")
        fi
      else
        failed+="$u "
      fi
      if [[ -n $got ]] && fob_good "$n" "$got"; then
        mv -f "$got" "$dir/$n"
        log "$n $version: downloaded"
        continue
      fi
      [[ -z $got ]] || log "downloaded $n does not report $version"
      left+=("$n")
    done
    rm -rf "$tmpd"
    [[ ${#left[@]} -gt 0 ]] || return 0
    todo=("${left[@]}")
  fi

  if [[ -n $setup ]]; then
    "$setup"
  fi
  local t0 t1 c0 tagflags=() out gobin
  [[ -z $tags ]] || tagflags=("-tags=$tags")
  if [[ -n $pkg ]]; then
    [[ -n $moddir && -d $moddir ]] || die "fetch_or_build $tool: setup= made no wrapper module"
    local pkgs=()
    for n in "${todo[@]}"; do pkgs+=("$(expand "$pkg" "$n")"); done
    log "resolving and downloading modules for ${todo[*]} $version ($module${tags:+, tags $tags}) ..."
    t0=$(now)
    (cd "$moddir" && quiet "$tool-mod" gobuild_env CGO_ENABLED=0 go list -mod=mod -deps "${tagflags[@]}" "${pkgs[@]}") ||
      die "module download for $module failed (is its zip on the module proxy?)"
    t1=$(now)
    log "modules ready in $((t1 - t0))s"
  fi
  for n in "${todo[@]}"; do
    t0=$(now); cpu_now; c0=$CPU
    if [[ -n $pkg ]]; then
      log "building $n $version ..."
      out=$dir/.$n.tmp.$$
      (cd "$moddir" && quiet "build-$n" gobuild_env CGO_ENABLED=0 go build -mod=mod -trimpath "${tagflags[@]}" \
        -ldflags "$ldflags" -o "$out" "$(expand "$pkg" "$n")") || { rm -f "$out"; die "build of $n failed"; }
      mv -f "$out" "$dir/$n"
    else
      log "building $n $version (download + build) ..."
      gobin=$(mktemp -d "$dir/.gobin.XXXXXX")
      (cd / && quiet "build-$n" gobuild_env CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags "$ldflags" \
        "$(expand "$install" "$n")") || { rm -rf "$gobin"; die "go install of $n failed"; }
      mv -f "$gobin/$n" "$dir/$n"
      rm -rf "$gobin"
    fi
    t1=$(now)
    fob_good "$n" "$dir/$n" || die "$dir/$n does not report $version"
    cpu_now
    log "built $n in $((t1 - t0))s (cpu $((CPU - c0))s)"
  done
}

# fob_good BIN PATH: whether PATH is a good BIN, by the verify=, or want= and check=,
# of the fetch_or_build that calls it (bash's dynamic scope).
fob_good() {
  if [[ -n $verify ]]; then
    "$verify" "$1" "$2"
    return
  fi
  local args
  read -ra args <<<"$check"
  version_ok "$2" "$want" "${args[@]}"
}

# expand TEMPLATE BIN: TEMPLATE with {bin}, {os} and {arch} replaced.
expand() {
  local s=$1
  s=${s//\{bin\}/$2}
  [[ $s != *"{os}"* ]] || s=${s//\{os\}/$(goos)}
  [[ $s != *"{arch}"* ]] || s=${s//\{arch\}/$(goarch)}
  echo "$s"
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

k8s_binary_ok() { # k8s_binary_ok NAME PATH
  if [[ $1 == kubectl ]]; then
    version_ok "$2" "Client Version: $KUBE_VERSION" version --client
  else
    version_ok "$2" "Kubernetes $KUBE_VERSION" --version
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

k8s_setup() { # for fetch_or_build: sets moddir and ldflags
  moddir=$(k8s_wrapper_dir)
  ldflags=$(k8s_ldflags)
}

ensure_k8s() { # ensure_k8s NAME...
  fetch_or_build tool=k8s version="$KUBE_VERSION" dir="$K8S_DIR" bins="$*" verify=k8s_binary_ok \
    url="https://dl.k8s.io/release/$KUBE_VERSION/bin/{os}/{arch}/{bin}" \
    module="k8s.io/kubernetes@$KUBE_VERSION" pkg="k8s.io/kubernetes/cmd/{bin}" \
    tags=selinux,notest,grpcnotrace setup=k8s_setup
}

# --- etcd ------------------------------------------------------------------

etcd_setup() { # for fetch_or_build: sets moddir and ldflags
  local ver commit
  ver=$(etcd_version)
  moddir=$(wrapper_module "etcd-v$ver" etcd-tools go.etcd.io/etcd/server/v3 "v$ver")
  commit=$(origin_hash go.etcd.io/etcd/server/v3 "v$ver")
  commit=${commit:0:12}
  ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${commit:-go-module}"
}

ensure_etcd() {
  local ver
  ver=$(etcd_version)
  fetch_or_build tool=etcd version="$ver" dir="$K8S_DIR" bins=etcd want="etcd Version: $ver" \
    url="https://github.com/etcd-io/etcd/releases/download/v$ver/etcd-v$ver-{os}-{arch}.tar.gz" \
    member="etcd-v$ver-{os}-{arch}/etcd" \
    module="go.etcd.io/etcd/server/v3@v$ver" pkg=go.etcd.io/etcd/server/v3 setup=etcd_setup
}

# --- kwok ------------------------------------------------------------------

KWOK_DIR=$TOOLS_DIR/kwok-$KWOK_VERSION

ensure_kwok() {
  fetch_or_build tool=kwok version="$KWOK_VERSION" dir="$KWOK_DIR" bins="kwok kwokctl" want="${KWOK_VERSION#v}" \
    url="https://github.com/kubernetes-sigs/kwok/releases/download/$KWOK_VERSION/{bin}-{os}-{arch}" \
    install="sigs.k8s.io/kwok/cmd/{bin}@$KWOK_VERSION"
}

# --- Prometheus and Alertmanager -------------------------------------------

# Prometheus' Go module v0.MMM.P is release (MMM/100).(MMM%100).P: v0.315.0 = 3.15.0.
prometheus_release() {
  local v=${PROMETHEUS_VERSION#v0.}
  local mmm=${v%%.*} patch=${v#*.}
  echo "$((mmm / 100)).$((mmm % 100)).$patch"
}

prometheus_dir() { echo "$TOOLS_DIR/prometheus-$(prometheus_release)"; }

# prometheus_from_path: whether a `prometheus` on PATH (not our own bin/ link) is used
# as it is, by FAULTLINE_PROMETHEUS_FROM_PATH.
prometheus_from_path() {
  [[ $FAULTLINE_PROMETHEUS_FROM_PATH == 1 ]] && command -v prometheus >/dev/null 2>&1 &&
    [[ $(command -v prometheus) != "$BIN_DIR/prometheus" ]]
}

# promu_ldflags MODULE VERSION RELEASE: the version stamp Prometheus' release tooling
# sets, so `--version` reports RELEASE and the commit the module proxy records.
promu_ldflags() {
  local commit flags="-s -w"
  commit=$(origin_hash "$1" "$2")
  flags+=" -X github.com/prometheus/common/version.Version=$3"
  flags+=" -X github.com/prometheus/common/version.Revision=${commit:-unknown}"
  flags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  flags+=" -X github.com/prometheus/common/version.BuildUser=faultline-hack-tools"
  flags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  echo "$flags"
}

prometheus_setup() { # for fetch_or_build: sets moddir and ldflags
  moddir=$(wrapper_module "prometheus-$PROMETHEUS_VERSION" prometheus-tools github.com/prometheus/prometheus "$PROMETHEUS_VERSION")
  ldflags=$(promu_ldflags github.com/prometheus/prometheus "$PROMETHEUS_VERSION" "$(prometheus_release)")
}

ensure_prometheus() { # ensure_prometheus NAME... (prometheus and/or promtool)
  if prometheus_from_path; then
    log "prometheus: using the one on PATH: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"
    return 0
  fi
  local rel
  rel=$(prometheus_release)
  fetch_or_build tool=prometheus version="$rel" dir="$(prometheus_dir)" bins="$*" want="version $rel" \
    url="https://github.com/prometheus/prometheus/releases/download/v$rel/prometheus-$rel.{os}-{arch}.tar.gz" \
    member="prometheus-$rel.{os}-{arch}/{bin}" \
    module="github.com/prometheus/prometheus@$PROMETHEUS_VERSION" pkg="github.com/prometheus/prometheus/cmd/{bin}" \
    tags="$PROMETHEUS_TAGS" setup=prometheus_setup
}

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

alertmanager_setup() { # for fetch_or_build: sets moddir and ldflags
  local sub=alertmanager-$ALERTMANAGER_VERSION
  mkdir -p "$SRC_DIR/$sub"
  alertmanager_src "$SRC_DIR/$sub"
  moddir=$(wrapper_module "$sub" alertmanager-tools github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" \
    "replace github.com/prometheus/alertmanager => ./alertmanager")
  ldflags=$(promu_ldflags github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" "${ALERTMANAGER_VERSION#v}")
}

ensure_alertmanager() { # ensure_alertmanager NAME... (alertmanager and/or amtool)
  local rel=${ALERTMANAGER_VERSION#v}
  fetch_or_build tool=alertmanager version="$rel" dir="$ALERTMANAGER_DIR" bins="$*" want="version $rel" \
    url="https://github.com/prometheus/alertmanager/releases/download/v$rel/alertmanager-$rel.{os}-{arch}.tar.gz" \
    member="alertmanager-$rel.{os}-{arch}/{bin}" \
    module="github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" pkg="github.com/prometheus/alertmanager/cmd/{bin}" \
    setup=alertmanager_setup
}

# --- Helm ------------------------------------------------------------------

# helm renders and lints charts/faultline in the chart test (internal/charttest).
# Its Go module versions are its release versions; the version is stamped as the
# release's Makefile does, so `helm version` reports it.
HELM_DIR=$TOOLS_DIR/helm-$HELM_VERSION

# helm_setup, for fetch_or_build, sets ldflags. The Kubernetes version helm assumes
# (.Capabilities.KubeVersion in `helm template`, the deprecation checks of `helm
# lint`) is, as in its release builds, that of the client-go it is built with.
helm_setup() {
  local gm kmaj=1 kmin pkg
  gm=$(gomod_path helm.sh/helm/v3 "$HELM_VERSION")
  [[ -n $gm && -f $gm ]] || die "cannot get go.mod of helm.sh/helm/v3@$HELM_VERSION from the module proxy"
  kmin=$(awk '$1=="k8s.io/client-go" {sub(/^v0\./, "", $2); sub(/\..*/, "", $2); print $2; exit}' "$gm")
  [[ -n $kmin ]] || die "cannot find the client-go version in $gm"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$kmaj -X $pkg.k8sVersionMinor=$kmin"
  done
}

ensure_helm() {
  fetch_or_build tool=helm version="$HELM_VERSION" dir="$HELM_DIR" bins=helm want="$HELM_VERSION" check="version --short" \
    url="https://get.helm.sh/helm-$HELM_VERSION-{os}-{arch}.tar.gz" member="{os}-{arch}/helm" \
    install="helm.sh/helm/v3/cmd/helm@$HELM_VERSION" setup=helm_setup
}

# --- Debian's packages: chromium, shellcheck ---------------------------------

# ensure_apt COMMAND PACKAGE HINT: COMMAND on PATH, else Debian's PACKAGE installed with
# apt-get (after an apt-get update if the first try fails: a fresh machine may not
# have the package lists yet). Neither is built from Go modules nor linked into bin/:
# no Go module builds a browser or ShellCheck (Haskell), and CI installs the same
# package. HINT says what to do where apt-get is missing.
ensure_apt() {
  local cmd=$1 pkg=$2 hint=$3
  if command -v "$cmd" >/dev/null 2>&1; then
    vlog "$cmd: present ($(command -v "$cmd"))"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "$cmd is not on PATH and apt-get is not available: $hint"
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo -n)
  log "installing $pkg with apt-get ..."
  if ! quiet "apt-get-$pkg" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg"; then
    quiet apt-get-update "${sudo[@]}" apt-get update ||
      die "apt-get update failed: install $pkg by hand (apt-get install $pkg)"
    quiet "apt-get-$pkg" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" ||
      die "apt-get install $pkg failed: install it by hand"
  fi
  command -v "$cmd" >/dev/null 2>&1 || die "apt-get installed $pkg, but \`$cmd\` is not on PATH"
  log "$cmd: installed ($(command -v "$cmd"))"
}

# chromium renders the HTML report in a real browser in the report's test
# (experiments/report).
ensure_chromium() {
  ensure_apt chromium chromium \
    "install a Chromium that runs as \`chromium\` (your system's package), or run \`go test\` without FAULTLINE_REQUIRE_CHROMIUM, where the browser test skips"
}

# ShellCheck lints the shell scripts (make lint-shell).
ensure_shellcheck() {
  ensure_apt shellcheck shellcheck "install ShellCheck (your system's shellcheck package) so that \`shellcheck\` is on PATH"
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
  if prometheus_from_path; then
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
  local want_chromium=0 want_shellcheck=0
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
      shellcheck) want_shellcheck=1 ;;
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
  [[ $want_shellcheck == 0 ]] || ensure_shellcheck
  link_all
  [[ $(($(now) - t0)) -lt 5 ]] || log "done in $(($(now) - t0))s"
  [[ $print_k8s == 0 ]] || echo "$K8S_DIR"
}

main "$@"
