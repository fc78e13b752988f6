#!/usr/bin/env bash
# Prepares everything needed to run aideazz's sources as aarch64 code on an x86_64 Debian machine:
#
#   .cache/arm64/sysroot/            arm64 libc6 + libgcc-s1 (+ libstdc++6 only if a binary needs it), dpkg -x'd
#   .cache/npm/@deno/linux-arm64-glibc@VERSION/deno
#                                    the arm64 Deno from npm, same version as the `deno` devDependency
#   .cache/npm/@libsql/linux-arm64-gnu@VERSION/index.node
#                                    the arm64 libSQL addon, same version as @libsql/client's `libsql` dependency
#                                    (scripts/build-binary.ts reuses this directory when staging the arm64 build)
#   .cache/arm64/env                 KEY=VALUE lines read by scripts/ci/arm64-smoke.sh
#
# and `qemu-user-static` (apt-get, as root) to run them. Idempotent: a second run only re-checks.
# Sources: the npm registry (npm pack, checked against package-lock.json integrity) and Debian's archive
# (apt-get download with private lists, so the machine's own apt state and architecture are untouched).
# Paths are relative to this script's clone, so CI can run it from any checkout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/arm64"
SYSROOT="$CACHE/sysroot"
START=$(date +%s.%N)

log() { printf 'arm64-sysroot: %s\n' "$*"; }
die() { printf 'arm64-sysroot: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

command -v node >/dev/null || die "node is required (it reads package-lock.json)"
command -v npm >/dev/null || die "npm is required (npm pack fetches the arm64 Deno and libSQL addon)"
[ -f "$ROOT/package-lock.json" ] || die "$ROOT/package-lock.json not found"

# --- versions and integrity hashes come from the lockfile: the arm64 parts always match the x86_64 ones ----
lock_field() { # lock_field <node_modules path> <field>
  node -e '
    const lock = require(process.argv[1]);
    const entry = lock.packages && lock.packages[process.argv[2]];
    if (!entry || !entry[process.argv[3]]) process.exit(3);
    process.stdout.write(String(entry[process.argv[3]]));
  ' "$ROOT/package-lock.json" "$1" "$2" || die "package-lock.json has no $2 for $1"
}
DENO_VERSION=$(lock_field node_modules/deno version)
LIBSQL_VERSION=$(lock_field node_modules/libsql version)
DENO_PKG="@deno/linux-arm64-glibc"
ADDON_PKG="@libsql/linux-arm64-gnu"
[ "$(lock_field "node_modules/$DENO_PKG" version)" = "$DENO_VERSION" ] ||
  die "package-lock.json: $DENO_PKG version differs from deno $DENO_VERSION"
[ "$(lock_field "node_modules/$ADDON_PKG" version)" = "$LIBSQL_VERSION" ] ||
  die "package-lock.json: $ADDON_PKG version differs from libsql $LIBSQL_VERSION"

# --- 1. qemu-user-static --------------------------------------------------------------------------------------
t=$(date +%s.%N)
if ! command -v qemu-aarch64-static >/dev/null; then
  [ "$(id -u)" = 0 ] || die "qemu-aarch64-static is missing; run as root or: apt-get install -y qemu-user-static"
  log "installing qemu-user-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q qemu-user-static >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q qemu-user-static >/dev/null; } ||
    die "apt-get install qemu-user-static failed"
fi
QEMU=$(command -v qemu-aarch64-static)
log "qemu: $QEMU ($("$QEMU" --version | head -n1)) [$(elapsed "$t") s]"

# --- 2. npm packages: npm pack into .cache/arm64/npm-tgz, verify sha512 against the lockfile, extract ---------
NPM_CACHE="$ROOT/.cache/npm"
fetch_npm() { # fetch_npm <name> <version>: extracts into $NPM_CACHE/<name>@<version>
  local name=$1 version=$2 dest="$NPM_CACHE/$1@$2" tgzdir="$NPM_CACHE/tgz" want got tgz
  if [ -f "$dest/package.json" ] &&
    [ "$(node -p 'require(process.argv[1]).version' "$dest/package.json")" = "$version" ]; then
    return 0
  fi
  mkdir -p "$tgzdir"
  tgz="$tgzdir/$(printf '%s' "${name#@}" | tr / -)-$version.tgz"
  if [ ! -f "$tgz" ]; then
    log "npm pack $name@$version"
    (cd "$tgzdir" && npm pack --silent "$name@$version" >/dev/null) || die "npm pack $name@$version failed"
  fi
  want=$(lock_field "node_modules/$name" integrity)
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$want" != "$got" ]; then
    rm -f "$tgz"
    die "$name@$version: tarball integrity $got does not match package-lock.json $want"
  fi
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  tar -xzf "$tgz" -C "$dest.tmp" --strip-components=1
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
}
t=$(date +%s.%N)
fetch_npm "$DENO_PKG" "$DENO_VERSION"
fetch_npm "$ADDON_PKG" "$LIBSQL_VERSION"
DENO_ARM64="$NPM_CACHE/$DENO_PKG@$DENO_VERSION/deno"
ADDON_DIR="$NPM_CACHE/$ADDON_PKG@$LIBSQL_VERSION"
chmod +x "$DENO_ARM64"
log "npm: $DENO_PKG@$DENO_VERSION, $ADDON_PKG@$LIBSQL_VERSION [$(elapsed "$t") s]"

# --- 3. sysroot: the Debian packages providing every shared library the two arm64 binaries need -------------
needed_libs() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
NEEDED=$( (needed_libs "$DENO_ARM64"; needed_libs "$ADDON_DIR/index.node") | sort -u)
PKGS="libc6 libgcc-s1"
if printf '%s\n' "$NEEDED" | grep -q '^libstdc++'; then PKGS="$PKGS libstdc++6"; fi

missing_libs() {
  local lib
  for lib in $NEEDED; do
    [ -e "$SYSROOT/lib/aarch64-linux-gnu/$lib" ] || [ -e "$SYSROOT/usr/lib/aarch64-linux-gnu/$lib" ] ||
      [ -e "$SYSROOT/lib/$lib" ] || printf '%s ' "$lib"
  done
}

t=$(date +%s.%N)
if [ -f "$SYSROOT/.packages" ] && [ "$(cat "$SYSROOT/.packages")" = "$PKGS" ] && [ -z "$(missing_libs)" ]; then
  log "sysroot: up to date ($PKGS)"
else
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-bookworm}")
  apt_dir="$CACHE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  # A private sources list: other entries of the machine (third-party, amd64-only) must not break the arm64 update.
  {
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename-updates main"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $codename-security main"
  } >"$apt_dir/sources.list"
  APT_OPTS=(
    -oAPT::Architecture=arm64 -oAPT::Architectures=arm64
    "-oDir::State::Lists=$apt_dir/lists" "-oDir::Cache=$apt_dir/cache"
    "-oDir::Etc::SourceList=$apt_dir/sources.list" -oDir::Etc::SourceParts=/dev/null
    -oDebug::NoLocking=1 -oAPT::Sandbox::User=root -q
  )
  log "apt-get update (arm64, private lists in $apt_dir)"
  apt-get "${APT_OPTS[@]}" update >/dev/null || die "apt-get update for arm64 failed"
  rm -f "$apt_dir/debs"/*.deb
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  (cd "$apt_dir/debs" && apt-get "${APT_OPTS[@]}" download $PKGS >/dev/null) || die "apt-get download $PKGS failed"
  rm -rf "$SYSROOT.tmp" && mkdir -p "$SYSROOT.tmp"
  for deb in "$apt_dir/debs"/*.deb; do dpkg -x "$deb" "$SYSROOT.tmp"; done
  rm -rf "$SYSROOT" && mv "$SYSROOT.tmp" "$SYSROOT"
  printf '%s' "$PKGS" >"$SYSROOT/.packages"
  [ -z "$(missing_libs)" ] || die "sysroot lacks: $(missing_libs)"
  log "sysroot: $(cd "$apt_dir/debs" && ls -- *.deb | tr '\n' ' ')"
fi
log "sysroot: $SYSROOT [$(elapsed "$t") s]"

# --- 4. prove it: the arm64 Deno runs under qemu and reports aarch64 ------------------------------------------
# A separate DENO_DIR: caches written by the arm64 Deno stay apart from the x86_64 one's.
ARCH=$(DENO_DIR="$CACHE/deno-dir" "$QEMU" -L "$SYSROOT" "$DENO_ARM64" eval --no-config 'console.log(Deno.build.arch)') ||
  die "the arm64 Deno did not run under qemu"
[ "$ARCH" = aarch64 ] || die "the arm64 Deno reported arch '$ARCH', expected aarch64"

cat >"$CACHE/env" <<EOF
QEMU=$QEMU
SYSROOT=$SYSROOT
DENO_ARM64=$DENO_ARM64
DENO_VERSION=$DENO_VERSION
DENO_DIR_ARM64=$CACHE/deno-dir
LIBSQL_ADDON_DIR=$ADDON_DIR
LIBSQL_ADDON_VERSION=$LIBSQL_VERSION
EOF
log "ok: Deno $DENO_VERSION reports $ARCH under qemu; libSQL addon $LIBSQL_VERSION (total $(elapsed "$START") s)"
