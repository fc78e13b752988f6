#!/usr/bin/env bash
# Runs the real aideazz CLI as aarch64 code: the arm64 Deno under qemu-user with an arm64 sysroot, from the
# same staged app directory that scripts/build-binary.ts hands to `deno compile` (production packages only,
# with @libsql/linux-arm64-gnu in its node_modules; the project's x86_64 node_modules is never touched).
# It uses the permission flags baked into the binary (build-binary.ts --print-permissions), not -A.
#
# Needs scripts/ci/arm64-sysroot.sh to have run (it writes .cache/arm64/env). Prints each step with its time
# and ends with `arm64 smoke: ok (total N s)`; exits non-zero with the failing step's output otherwise.
# ARM64_SMOKE_HEALTH_TIMEOUT_S (default 120) bounds the wait for the agent's GET /health.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV_FILE="$ROOT/.cache/arm64/env"
TARGET=aarch64-unknown-linux-gnu
HEALTH_TIMEOUT_S=${ARM64_SMOKE_HEALTH_TIMEOUT_S:-120}
START=$(date +%s.%N)

die() { printf 'arm64 smoke: FAILED: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

[ -f "$ENV_FILE" ] || die "$ENV_FILE not found: run scripts/ci/arm64-sysroot.sh first"
# shellcheck source=/dev/null
. "$ENV_FILE"
for f in "$QEMU" "$DENO_ARM64" "$SYSROOT/lib/ld-linux-aarch64.so.1"; do
  [ -e "$f" ] || die "$f is missing: run scripts/ci/arm64-sysroot.sh again"
done
HOST_DENO="$ROOT/node_modules/.bin/deno"
[ -x "$HOST_DENO" ] || die "$HOST_DENO not found: run npm ci first"
[ -f "$ROOT/src/main.ts" ] || die "$ROOT/src/main.ts not found: nothing to smoke-test"
EXAMPLE="$ROOT/aideazz.example.json"
[ -f "$EXAMPLE" ] || die "$EXAMPLE not found"

TMP=$(mktemp -d /tmp/aideazz-arm64-smoke.XXXXXX) # under /tmp: inside the binary's --allow-write scope
AGENT_PID=
cleanup() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then kill -KILL "$AGENT_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# step NAME CMD...: runs CMD, prints its time and first output line; on failure prints the output and exits.
step() {
  local name=$1 t rc=0 first
  shift
  t=$(date +%s.%N)
  "$@" >"$TMP/step.out" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    printf '  %-14s FAILED (exit %s, %s s)\n' "$name" "$rc" "$(elapsed "$t")"
    sed 's/^/    | /' "$TMP/step.out" | tail -n 40
    die "step '$name' exited with $rc"
  fi
  first=$(grep -m1 -v '^[[:space:]]*$' "$TMP/step.out" || true)
  printf '  %-14s ok   %6s s  %s\n' "$name" "$(elapsed "$t")" "${first:0:90}"
}

# arm64 CMD...: the arm64 Deno under qemu, in the staged app directory, with its own DENO_DIR.
arm64() { (cd "$STAGE" && DENO_DIR="$DENO_DIR_ARM64" exec "$QEMU" -L "$SYSROOT" "$DENO_ARM64" "$@"); }
aideazz() { arm64 run "${PERMS[@]}" src/main.ts "$@"; }

echo "arm64 smoke: Deno $DENO_VERSION (aarch64) under $("$QEMU" --version | head -n1), libSQL addon $LIBSQL_ADDON_VERSION"

t=$(date +%s.%N)
STAGE=$("$HOST_DENO" run -A "$ROOT/scripts/build-binary.ts" --target "$TARGET" --stage-only) || die "staging failed"
mapfile -t PERMS < <("$HOST_DENO" run -A "$ROOT/scripts/build-binary.ts" --print-permissions)
[ -f "$STAGE/node_modules/@libsql/linux-arm64-gnu/index.node" ] || die "the stage lacks the arm64 libSQL addon"
printf '  %-14s ok   %6s s  %s\n' "stage" "$(elapsed "$t")" "${STAGE#"$ROOT"/} (${PERMS[*]})"

# uname(2) through the arm64 libc (FFI): what `uname -m` prints inside qemu; Deno.build.arch is the arch the
# running Deno was built for. (node:os machine() maps Deno.build.arch to "arm64", so it proves less.)
UNAME_JS='const libc = Deno.dlopen("libc.so.6", { uname: { parameters: ["buffer"], result: "i32" } });
const buf = new Uint8Array(6 * 65); // struct utsname: six 65-byte fields, machine is the fifth
if (libc.symbols.uname(buf) !== 0) throw new Error("uname failed");
const machine = new TextDecoder().decode(buf.subarray(4 * 65, 5 * 65)).replace(/\0.*$/s, "");
console.log(`${machine} ${Deno.build.arch}`);'
step arch arm64 eval --no-config "$UNAME_JS"
read -r UNAME_M BUILD_ARCH <"$TMP/step.out"
[ "$UNAME_M" = aarch64 ] && [ "$BUILD_ARCH" = aarch64 ] ||
  die "expected aarch64 inside qemu, got uname -m '$UNAME_M', Deno.build.arch '$BUILD_ARCH'"
echo "arch inside qemu: uname -m = $UNAME_M, Deno.build.arch = $BUILD_ARCH"

step --version aideazz --version

step migrate aideazz migrate --db "file:$TMP/smoke.db"
[ -s "$TMP/smoke.db" ] || die "migrate did not create $TMP/smoke.db"
if command -v sqlite3 >/dev/null; then
  printf '  %-14s %s tables, journal_mode %s\n' "" \
    "$(sqlite3 "$TMP/smoke.db" "select count(*) from sqlite_master where type = 'table'")" \
    "$(sqlite3 "$TMP/smoke.db" 'pragma journal_mode')"
fi

step "config check" aideazz config check --config "$EXAMPLE"

# The agent's config: the example with the smoke database and a free port for the analytics agent.
PORT=$(node -e '
  const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
cp "$ROOT"/*.example.json "$TMP/"
node -e '
  const fs = require("node:fs");
  const [file, db, port] = process.argv.slice(1);
  const config = JSON.parse(fs.readFileSync(file, "utf8"));
  config.store = { ...config.store, url: db };
  const agent = config.agents.find((a) => a.name === "analytics");
  if (!agent) throw new Error(`${file} has no agent named analytics`);
  agent.port = Number(port);
  fs.writeFileSync(file.replace(/aideazz\.example\.json$/, "smoke.json"), JSON.stringify(config, null, 2));
' "$TMP/aideazz.example.json" "file:$TMP/smoke.db" "$PORT"

t=$(date +%s.%N)
# exec, so that $! is qemu itself and SIGTERM reaches the agent (qemu-user forwards it to the guest).
(cd "$STAGE" && DENO_DIR="$DENO_DIR_ARM64" exec "$QEMU" -L "$SYSROOT" "$DENO_ARM64" run "${PERMS[@]}" src/main.ts \
  agent analytics --config "$TMP/smoke.json") >"$TMP/agent.out" 2>&1 &
AGENT_PID=$!
status=
deadline=$(($(date +%s) + HEALTH_TIMEOUT_S))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$AGENT_PID" 2>/dev/null; then
    sed 's/^/    | /' "$TMP/agent.out" | tail -n 40
    die "agent analytics exited before /health answered"
  fi
  status=$(curl -s -o "$TMP/health.json" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/health" || true)
  [ "$status" = 200 ] && break
  sleep 0.5
done
if [ "$status" != 200 ]; then
  sed 's/^/    | /' "$TMP/agent.out" | tail -n 40
  die "GET http://127.0.0.1:$PORT/health did not answer 200 within ${HEALTH_TIMEOUT_S} s (last status '${status}')"
fi
printf '  %-14s ok   %6s s  GET /health 200 %s\n' "agent /health" "$(elapsed "$t")" "$(head -c 90 "$TMP/health.json")"

# The agent says once whether its trims of malloc's heap run (glibc's malloc_trim through FFI): on aarch64 too.
t=$(date +%s.%N)
trims=
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
  trims=$(grep -o '"msg":"native heap trims","available":[a-z]*' "$TMP/agent.out" || true)
  [ -n "$trims" ] && break
  sleep 0.5
done
case "$trims" in
  *'"available":true') printf '  %-14s ok   %6s s  glibc malloc_trim through FFI\n' "heap trims" "$(elapsed "$t")" ;;
  *)
    sed 's/^/    | /' "$TMP/agent.out" | tail -n 40
    die "the agent did not log that its native heap trims run (found: '${trims}')"
    ;;
esac

t=$(date +%s.%N)
kill -TERM "$AGENT_PID"
rc=0
# `wait` returns when the agent exits; a watchdog turns a hang into a failure after 30 s.
(sleep 30 && kill -KILL "$AGENT_PID" 2>/dev/null) &
WATCHDOG=$!
wait "$AGENT_PID" || rc=$?
kill "$WATCHDOG" 2>/dev/null || true
wait "$WATCHDOG" 2>/dev/null || true
AGENT_PID=
if [ "$rc" != 0 ]; then
  sed 's/^/    | /' "$TMP/agent.out" | tail -n 40
  die "agent analytics exited with $rc after SIGTERM (expected 0)"
fi
printf '  %-14s ok   %6s s  exit 0\n' "SIGTERM" "$(elapsed "$t")"

echo "arm64 smoke: ok (total $(elapsed "$START") s)"
