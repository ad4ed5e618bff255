#!/usr/bin/env bash
# `scripts/dev run` works again after a crash: run it, kill -9 the daemon, run it again the same way. Both times the
# API must answer; the second run reuses the dev image (its inputs did not change), and an image whose agent changed
# is replaced. Scratch image cache, state directory and socket; the kernel and .deb caches are the machine's (linked,
# never rebuilt). Prints PASS/FAIL lines and, last, "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
real_cache=${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}
work=$(mktemp -d "${TMPDIR:-/tmp}/kelpie-dev-run.XXXXXX")
API_DEADLINE_S=900 # the first run may build the image and the daemon
passed=0 failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

mkdir -p "$work/cache"
for entry in "$real_cache"/*; do
  [ "$(basename "$entry")" = images ] || ln -s "$entry" "$work/cache/"
done
dev_pid=
stop_dev() { # SIGNAL
  if [ -n "$dev_pid" ]; then
    kill "-$1" -- "-$dev_pid" 2>/dev/null
    wait "$dev_pid" 2>/dev/null
    dev_pid=
  fi
}
trap 'stop_dev KILL; rm -rf "$work"' EXIT

# start_dev NAME: scripts/dev run in a session of its own (its daemon execs in place, so the session is the daemon).
start_dev() {
  KELPIE_CACHE_DIR=$work/cache KELPIE_STATE_DIR=$work/state KELPIE_API_SOCKET=$work/api.sock \
    setsid "$root/scripts/dev" run </dev/null >"$work/$1.log" 2>&1 &
  dev_pid=$!
}

# api_answers NAME: Host.Info answers on the socket before the deadline, while the run is alive.
api_answers() {
  local deadline=$((SECONDS + API_DEADLINE_S))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      echo "--- $1 ended early; its log:" >&2; tail -n 40 "$work/$1.log" >&2
      return 1
    fi
    if [ -S "$work/api.sock" ] && "$root/tools/node_modules/.bin/buf" curl --protocol grpc --http2-prior-knowledge \
         --unix-socket "$work/api.sock" http://localhost/kelpie.v1.Host/Info 2>/dev/null | grep -q '"daemonVersion"'; then
      return 0
    fi
    sleep 1 # polling a socket that has no readiness signal of its own
  done
  echo "--- $1: no answer within ${API_DEADLINE_S} s; its log:" >&2; tail -n 40 "$work/$1.log" >&2
  return 1
}

start_dev first
if api_answers first; then pass "scripts/dev run: the API answers"; else fail "scripts/dev run: the API did not answer"; fi
stop_dev KILL # a crash: stale socket and state lock left behind

start_dev second
if api_answers second; then pass "scripts/dev run again after kill -9: the API answers"
else fail "scripts/dev run again after kill -9: the API did not answer"; fi
if grep -q 'already exists (use --force' "$work/second.log"; then fail "the second run refused the existing dev image"; fi
if grep -q 'reused' "$work/second.log"; then pass "the second run reused the unchanged dev image"
else fail "the second run did not reuse the dev image: $(grep -m1 'build.sh' "$work/second.log")"; fi
stop_dev TERM

# Another agent: the dev image is rebuilt and swapped in, nothing else of it is left.
arch=$(uname -m)
image=$work/cache/images/0.1.0-dev/$arch
agent=$("$root/guest-agent/scripts/build.sh" --arch "$arch" 2>/dev/null | tail -n 1)
cp "$agent" "$work/other-agent" && printf 'x' >> "$work/other-agent"
[ -f "$agent.version" ] && cp "$agent.version" "$work/other-agent.version"
if KELPIE_CACHE_DIR=$work/cache "$root/image-build/build.sh" --arch "$arch" --version 0.1.0-dev --flavor minimal \
     --agent "$work/other-agent" --out "$work/cache/images" --reuse-unchanged >"$work/third.log" 2>&1 \
   && grep -q 'replacing it' "$work/third.log" \
   && grep -q "$(sha256sum < "$work/other-agent" | cut -d' ' -f1)" "$image/metadata.json" \
   && [ -z "$(find "$work/cache/images" -name '.tmp-build-*')" ]; then
  pass "a changed agent replaces the dev image"
else
  fail "a changed agent did not replace the dev image cleanly: $(tail -n 3 "$work/third.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
