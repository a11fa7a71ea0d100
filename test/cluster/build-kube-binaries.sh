#!/usr/bin/env bash
# Builds the binaries of the test control plane into a cache outside git, keyed by version:
#   kube-apiserver, kube-controller-manager, kube-scheduler (from k8s.io/kubernetes, module in kube-build/)
#   etcd (go.etcd.io/etcd/server/v3, module in etcd-build/; Debian's 3.4 lacks watch progress requests)
#   kubelet, kube-proxy (the real node of test/cluster/real-node.ts; same module and version)
#   kwok (simulates nodes so pods get scheduled and report Running/Ready)
#   helm (the chart tests; go install of a pinned release)
#   metrics-server (the real node's metrics API, for the HPA; go install of a pinned release)
#   prometheus-k8s-sd (Prometheus with kubernetes_sd_configs and no other cloud discovery, module in
#     prometheus-build/; Debian's prometheus is built without it)
# A second run with every binary present does nothing; FORCE=1 rebuilds.
# Writes build.json beside bin/ (seconds per step, wall and CPU seconds per binary, binary sizes) for
# bench/cluster.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# Keep these in step with test/cluster/kube-binaries.ts.
KUBE_VERSION=v1.32.2
KWOK_VERSION=v0.7.0
HELM_VERSION=v3.19.0
METRICS_SERVER_VERSION=v0.8.0
ETCD_VERSION=v3.5.16
# Prometheus 2.54.1 (its Go module is numbered v0.54.1).
PROMETHEUS_VERSION=v2.54.1
# The Go release Kubernetes 1.32 was built and tested with; fetched as a module through the proxy.
GO_TOOLCHAIN=go1.23.6
# kwok 0.7 declares go 1.24: the installed Go (newer) builds it.
KWOK_TOOLCHAIN=local

cache="${SAFESQUID_KUBE_CACHE:-$HOME/.cache/safesquid-kube}/$KUBE_VERSION"
bin="$cache/bin"
mkdir -p "$bin"

kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
missing=()
for c in "${kube_cmds[@]}" etcd kwok helm metrics-server prometheus-k8s-sd; do
  [[ -x "$bin/$c" ]] || missing+=("$c")
done
if [[ ${#missing[@]} -eq 0 && "${FORCE:-}" != 1 ]]; then
  echo "kube binaries $KUBE_VERSION already built in $bin"
  exit 0
fi

# Share the CPU politely with whoever else is on the machine.
nice_cmd=(nice -n "${BUILD_NICE:-10}")
export GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
ldflags='-s -w'
# Temporary files and directories of this run, removed however it ends.
scratch=()
trap 'chmod -R u+w "${scratch[@]}" 2>/dev/null; rm -rf "${scratch[@]}"' EXIT
# COLD=1 measures a cold build: a fresh, temporary Go build cache (modules stay downloaded).
# COLD=all as on a fresh machine: the module cache too (every module and the Go toolchain through
# the module proxy).
if [[ "${COLD:-}" == 1 || "${COLD:-}" == all ]]; then
  GOCACHE="$(mktemp -d)"
  export GOCACHE
  scratch+=("$GOCACHE")
  if [[ "$COLD" == all ]]; then
    GOMODCACHE="$(mktemp -d)"
    export GOMODCACHE
    scratch+=("$GOMODCACHE") # read-only on disk: the trap makes it writable first
  fi
fi
# What `make` in the kubernetes repo stamps in (less the commit, which the module proxy does not
# carry); without it the binaries report v0.0.0-master and clients warn about version skew.
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="$ldflags"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
now() { date +%s.%N; }
# Only what is missing is built (FORCE=1: everything), so adding a binary to the list builds just that one.
have() { [[ -x "$bin/$1" && "${FORCE:-}" != 1 ]]; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# Seconds per binary built in this run, wall and CPU (user + system of the go processes: less
# dependent on what else the machine runs), for build.json; the steps run in subshells.
per_binary="$(mktemp)"
per_binary_cpu="$(mktemp)"
times_file="$(mktemp)"
scratch+=("$per_binary" "$per_binary_cpu" "$times_file")
# Sets cpu_total: user + system seconds of this shell's finished children. `times` runs in this shell
# (in a pipe or $(...) it would report a fresh subshell's children); its second line is theirs.
cpu_now() {
  times >"$times_file"
  cpu_total=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$times_file")
}
timed() {
  local name=$1 start cpu0 wall cpu
  shift
  start=$(now)
  cpu_now
  cpu0=$cpu_total
  "$@"
  wall=$(elapsed "$start" "$(now)")
  cpu_now
  cpu=$(elapsed "$cpu0" "$cpu_total")
  echo "\"$name\": $wall" >>"$per_binary"
  echo "\"$name\": $cpu" >>"$per_binary_cpu"
  echo "built $name in $wall s, $cpu s CPU (load $(cut -d' ' -f1-3 /proc/loadavg))"
}

t0=$(now)
(
  cd "$here/kube-build"
  export GOTOOLCHAIN="$GO_TOOLCHAIN"
  for c in "${kube_cmds[@]}"; do
    have "$c" && continue
    echo "building $c $KUBE_VERSION with $GO_TOOLCHAIN ..."
    timed "$c" "${nice_cmd[@]}" go build -ldflags="$kube_ldflags" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$bin/$c.tmp" "$bin/$c"
  done
)
t1=$(now)
have etcd || (
  echo "building etcd $ETCD_VERSION with $GO_TOOLCHAIN ..."
  cd "$here/etcd-build"
  GOTOOLCHAIN="$GO_TOOLCHAIN" timed etcd "${nice_cmd[@]}" go build -ldflags="$ldflags" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$bin/etcd.tmp" "$bin/etcd"
)
te=$(now)
have kwok || (
  echo "building kwok $KWOK_VERSION with $KWOK_TOOLCHAIN ..."
  # go install with an @version uses kwok's own go.mod and go.sum, checked against the checksum database.
  cd "$cache"
  GOTOOLCHAIN="$KWOK_TOOLCHAIN" GOBIN="$bin" timed kwok "${nice_cmd[@]}" go install -ldflags="$ldflags" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
)
t2=$(now)
have helm || (
  echo "building helm $HELM_VERSION ..."
  cd "$cache"
  GOTOOLCHAIN=local GOBIN="$bin" timed helm "${nice_cmd[@]}" go install -ldflags="$ldflags -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
)
t3=$(now)
have metrics-server || (
  echo "building metrics-server $METRICS_SERVER_VERSION ..."
  cd "$cache"
  # Its go.mod declares a newer Go than Kubernetes 1.32's: the installed Go builds it.
  GOTOOLCHAIN=local GOBIN="$bin" timed metrics-server "${nice_cmd[@]}" go install -ldflags="$ldflags" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
)
t4=$(now)
have prometheus-k8s-sd || (
  echo "building prometheus $PROMETHEUS_VERSION (kubernetes_sd_configs) with $GO_TOOLCHAIN ..."
  cd "$here/prometheus-build"
  export GOTOOLCHAIN="$GO_TOOLCHAIN"
  # Only the Kubernetes service discovery: a copy of the Prometheus module whose plugins/plugins.go
  # (all 23 discoveries) is replaced by prometheus-build/plugins/plugins.go, built through a
  # `replace` in a copy of go.mod (-modfile). A fixed place under the cache keeps Go's build cache
  # valid for a FORCE=1 rebuild.
  dir="$(go mod download -json github.com/prometheus/prometheus | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$dir/plugins/plugins.go" ]] || { echo "prometheus module not found in the module cache (got '$dir')" >&2; exit 1; }
  work="$cache/prometheus-k8s-sd-src"
  rm -rf "$work"
  mkdir -p "$work"
  cp -R "$dir" "$work/prometheus"
  chmod -R u+w "$work/prometheus"
  cp plugins/plugins.go "$work/prometheus/plugins/plugins.go"
  cp go.mod go.sum "$work/"
  go mod edit -modfile="$work/go.mod" -replace "github.com/prometheus/prometheus=$work/prometheus"
  v=${PROMETHEUS_VERSION#v}
  timed prometheus-k8s-sd "${nice_cmd[@]}" go build -modfile="$work/go.mod" -o "$bin/prometheus-k8s-sd.tmp" \
    -ldflags="$ldflags -X github.com/prometheus/common/version.Version=$v -X github.com/prometheus/common/version.Branch=HEAD" \
    github.com/prometheus/prometheus/cmd/prometheus
  rm -rf "$work"
  mv "$bin/prometheus-k8s-sd.tmp" "$bin/prometheus-k8s-sd"
)
t5=$(now)

sizes=""
for c in "${kube_cmds[@]}" etcd kwok helm metrics-server prometheus-k8s-sd; do
  sizes+="\"$c\": $(stat -L -c %s "$bin/$c"), "
done
cat >"$cache/build.json" <<EOF
{
  "kubeVersion": "$KUBE_VERSION",
  "kwokVersion": "$KWOK_VERSION",
  "goToolchain": "$GO_TOOLCHAIN",
  "kubeBuildSeconds": $(elapsed "$t0" "$t1"),
  "etcdVersion": "$ETCD_VERSION",
  "etcdBuildSeconds": $(elapsed "$t1" "$te"),
  "kwokBuildSeconds": $(elapsed "$te" "$t2"),
  "helmVersion": "$HELM_VERSION",
  "helmBuildSeconds": $(elapsed "$t2" "$t3"),
  "metricsServerVersion": "$METRICS_SERVER_VERSION",
  "metricsServerBuildSeconds": $(elapsed "$t3" "$t4"),
  "prometheusVersion": "$PROMETHEUS_VERSION",
  "prometheusBuildSeconds": $(elapsed "$t4" "$t5"),
  "totalSeconds": $(elapsed "$t0" "$t5"),
  "secondsPerBinary": { $(paste -sd, "$per_binary" | sed 's/,/, /g') },
  "cpuSecondsPerBinary": { $(paste -sd, "$per_binary_cpu" | sed 's/,/, /g') },
  "goBuildCache": "$([[ "${COLD:-}" == 1 || "${COLD:-}" == all ]] && echo cold || echo reused)",
  "goModuleCache": "$([[ "${COLD:-}" == all ]] && echo cold || echo reused)",
  "cpus": $(nproc),
  "loadAverageAtEnd": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "binaryBytes": { ${sizes%, } },
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
cat "$cache/build.json"
du -sh "$bin"
