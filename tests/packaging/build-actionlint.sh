#!/usr/bin/env bash
# Build a pinned actionlint (github.com/rhysd/actionlint) from its Go module into the tool
# cache (EGRESSGUARD_CACHE, default ~/.cache/egressguard); rebuilt only when the pin
# changes. Prints the binary's path as its last line. The workflow tests lint
# .github/workflows/ and deploy/ci/ with it.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
CACHE="${EGRESSGUARD_CACHE:-$HOME/.cache/egressguard}"
OUT="$CACHE/actionlint-$ACTIONLINT_VERSION"

log() { printf '[actionlint] %s\n' "$*" >&2; }

if [[ -x "$OUT/actionlint" ]]; then
  echo "$OUT/actionlint"
  exit 0
fi
command -v go >/dev/null || { log "Go is required to build actionlint"; exit 1; }
log "building github.com/rhysd/actionlint $ACTIONLINT_VERSION (a minute on two cores)"
mkdir -p "$OUT"
GOBIN="$OUT/.bin" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 \
  go install -trimpath \
  -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
  "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2
mv "$OUT/.bin/actionlint" "$OUT/actionlint"
rm -rf "$OUT/.bin"
log "built $("$OUT/actionlint" -version | head -1)"
echo "$OUT/actionlint"
