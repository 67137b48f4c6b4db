#!/usr/bin/env bash
# Build pinned kube-apiserver, kube-controller-manager, kubectl and etcd from their published Go modules.
#
# The binaries are cached outside the repository (EGRESSGUARD_CACHE, default
# ~/.cache/egressguard) and rebuilt only when a pinned version changes. Prints the
# directory holding the binaries as its last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${EGRESSGUARD_CACHE:-$HOME/.cache/egressguard}"
OUT="$CACHE/controlplane-k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

log() { printf '[controlplane] %s\n' "$*" >&2; }

have_all() {
  [[ -x "$OUT/kube-apiserver" && -x "$OUT/kube-controller-manager" && -x "$OUT/kubectl" && -x "$OUT/etcd" ]]
}

# Show progress without flooding the log: one line every 100 packages compiled.
progress() {
  local what="$1" n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    if (( n % 100 == 0 )); then log "$what: $n packages compiled"; fi
    # Package names go by quietly; compiler diagnostics (file.go:line:) are shown.
    case "$line" in *.go:[0-9]*|go:\ *) printf '%s\n' "$line" >&2 ;; esac
  done
  log "$what: $n packages compiled in total"
}

if have_all; then
  log "using cached binaries in $OUT"
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { log "Go is required to build the control plane binaries"; exit 1; }
mkdir -p "$OUT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

K8S_COMMANDS=(kube-apiserver kube-controller-manager kubectl)
missing=()
for cmd in "${K8S_COMMANDS[@]}"; do [[ -x "$OUT/$cmd" ]] || missing+=("$cmd"); done

if (( ${#missing[@]} )); then
  log "fetching k8s.io/kubernetes $K8S_VERSION"
  mkdir -p "$work/k8s"
  modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  (
    cd "$work/k8s"
    go mod init egressguard.io/controlplane >/dev/null 2>&1
    go_directive="$(sed -n 's/^go \(.*\)$/\1/p' "$modfile" | head -1)"
    go mod edit -go="$go_directive"
    # k8s.io/kubernetes points its staging modules at ./staging; pin each to the
    # published v0.x.y that matches the release instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" | while read -r mod; do
      go mod edit -replace="$mod=$mod@$STAGING_VERSION"
    done
    log "resolving modules for ${missing[*]} (first run downloads a few hundred MB)"
    go get "${missing[@]/#/k8s.io/kubernetes/cmd/}" "k8s.io/kubernetes@$K8S_VERSION" 2>"$work/get.log" \
      || { cat "$work/get.log" >&2; exit 1; }
    log "$(grep -c '^go: downloading' "$work/get.log" || true) modules downloaded"
    for cmd in "${missing[@]}"; do
      log "building $cmd $K8S_VERSION (several minutes on two cores)"
      go build -v -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
        -o "$OUT/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" 2>&1 | progress "$cmd"
      [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "building $cmd failed"; exit 1; }
      mv "$OUT/$cmd.tmp" "$OUT/$cmd"
    done
  )
fi

if [[ ! -x "$OUT/etcd" ]]; then
  log "building etcd $ETCD_VERSION"
  mkdir -p "$work/etcd"
  (
    cd "$work/etcd"
    go mod init egressguard.io/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" 2>"$work/get-etcd.log" \
      || { cat "$work/get-etcd.log" >&2; exit 1; }
    go build -v -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 2>&1 | progress etcd
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "building etcd failed"; exit 1; }
    mv "$OUT/etcd.tmp" "$OUT/etcd"
  )
fi

have_all || { log "build finished but binaries are missing in $OUT"; exit 1; }
"$OUT/kube-apiserver" --version >&2
log "binaries ready in $OUT"
echo "$OUT"
