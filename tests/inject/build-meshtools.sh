#!/usr/bin/env bash
# Build pinned istioctl (from the istio.io/istio Go module), helm (helm.sh/helm/v4), and
# istiod-render (tests/inject/istiod: istiod's own injection webhook and waypoint
# rendering, run offline, built against the same istio.io/istio).
#
# The injection corpus (tests/inject) runs `istioctl kube-inject` offline with injector
# and mesh configs that helm renders from Istio's own charts, read from the Go module
# cache. The binaries are cached outside the repository (EGRESSGUARD_CACHE, default
# ~/.cache/egressguard) and rebuilt only when a pin changes. Prints the directory
# holding the binaries as its last line.
#
# Pins:
# - istio.io/istio publishes no tagged Go module versions; the module proxy serves only
#   pseudo-versions of master. ISTIO_VERSION is the newest served one, eed52ebb66ad
#   (2026-08-27): its go.mod requires istio.io/api v1.31.0-rc (the 1.31 line, the same
#   line as the istio.io/api v1.31.1 CRDs the e2e tests install) and helm v4, and
#   names go 1.26.0, so the machine's Go builds it without GOTOOLCHAIN. The other
#   served pseudo-version of that week, 9739e10eb9d7, is the 1.30 branch.
#   The binary reports version 1.31-dev, as Istio's Makefile names a build of master
#   (the module's VERSION file plus "-dev").
# - helm v4.3.2, the newest served helm v4.
# Neither go.mod has replace directives, so `go install module/cmd@version` builds each
# with exactly the dependency versions its authors pinned; no replace lines are needed.
# A first build with an empty Go build cache takes about 750 CPU-seconds (2,013 packages
# for istioctl, 883 for helm; istiod-render reuses istioctl's): 12 minutes on two shared
# cores, istioctl 8.5 of them. Modules not yet in the module cache download first.
# Should a later pin name a Go newer than the machine's, export GOTOOLCHAIN=go1.27.3
# (the go command then fetches that toolchain from the module proxy).
set -euo pipefail

ISTIO_VERSION="${ISTIO_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"
ISTIO_BUILD_VERSION="${ISTIO_BUILD_VERSION:-1.31-dev}"
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
CACHE="${EGRESSGUARD_CACHE:-$HOME/.cache/egressguard}"
ISTIO_COMMIT="${ISTIO_VERSION##*-}"
OUT="$CACHE/meshtools-istio-$ISTIO_COMMIT-helm-$HELM_VERSION"
# istiod-render is built from this repository: its binary is named by its sources' hash.
RENDER_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/istiod" && pwd)"
RENDER="istiod-render-$(cd "$RENDER_SRC" && LC_ALL=C cat go.mod go.sum *.go | sha256sum | cut -c1-12)"

log() { printf '[meshtools] %s\n' "$*" >&2; }

have_all() { [[ -x "$OUT/istioctl" && -x "$OUT/helm" && -x "$OUT/$RENDER" ]]; }

# Show progress without flooding the log: one line every 100 packages compiled, one
# every 100 modules downloaded.
progress() {
  local what="$1" n=0 downloads=0 line
  while IFS= read -r line; do
    case "$line" in
      go:\ downloading\ *)
        downloads=$((downloads + 1))
        if (( downloads % 100 == 0 )); then log "$what: $downloads modules downloaded"; fi
        continue ;;
      # Compiler diagnostics (file.go:line:) and the go command's messages are shown.
      *.go:[0-9]*|go:\ *) printf '%s\n' "$line" >&2; continue ;;
    esac
    n=$((n + 1))
    if (( n % 100 == 0 )); then log "$what: $n packages compiled"; fi
  done
  log "$what: $downloads modules downloaded, $n packages compiled"
}

# install NAME PACKAGE@VERSION LDFLAGS: build one command into $OUT.
install() {
  local name="$1" target="$2" ldflags="$3" bin="$OUT/.bin-$1" started=$SECONDS
  log "building $name from $target (first run: a few minutes on two cores)"
  rm -rf "$bin"
  GOBIN="$bin" go install -v -trimpath -ldflags "-s -w $ldflags" "$target" 2>&1 | progress "$name"
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "building $name failed"; exit 1; }
  mv "$bin/$name" "$OUT/$name"
  rm -rf "$bin"
  log "$name built in $((SECONDS - started)) s"
}

if have_all; then
  log "using cached istioctl, helm and istiod-render in $OUT"
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { log "Go is required to build istioctl and helm"; exit 1; }
mkdir -p "$OUT"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

if [[ ! -x "$OUT/istioctl" ]]; then
  v=istio.io/istio/pkg/version
  install istioctl "istio.io/istio/istioctl/cmd/istioctl@$ISTIO_VERSION" \
    "-X $v.buildVersion=$ISTIO_BUILD_VERSION -X $v.buildGitRevision=$ISTIO_COMMIT -X $v.buildStatus=Clean"
fi

if [[ ! -x "$OUT/helm" ]]; then
  install helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
fi

if [[ ! -x "$OUT/$RENDER" ]]; then
  log "building istiod-render from $RENDER_SRC (shares most packages with istioctl)"
  started=$SECONDS
  (cd "$RENDER_SRC" && go build -v -trimpath -ldflags "-s -w" -o "$OUT/$RENDER.tmp" .) 2>&1 \
    | progress istiod-render
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "building istiod-render failed"; exit 1; }
  mv "$OUT/$RENDER.tmp" "$OUT/$RENDER"
  log "istiod-render built in $((SECONDS - started)) s"
fi

have_all || { log "build finished but binaries are missing in $OUT"; exit 1; }
log "$("$OUT/istioctl" version --remote=false 2>&1 | head -1), helm $("$OUT/helm" version --short 2>&1)"
log "binaries ready in $OUT"
echo "$OUT"
