# Helpers for image-build tests (sourced). Each test prints PASS/FAIL/SKIP lines that run.sh counts.
# shellcheck shell=bash
set -uo pipefail
export LC_ALL=C TZ=UTC
tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ib=$(cd "$tests_dir/.." && pwd)
repo=$(cd "$ib/.." && pwd)
# Shared scratch space for one run.sh invocation (images built once, reused by later tests).
: "${KELPIE_TEST_WORK:=$(mktemp -d "${TMPDIR:-/tmp}/kelpie-image-tests.XXXXXX")}"
export KELPIE_TEST_WORK
# Fixed inputs for the reproducibility and boot tests.
: "${KELPIE_TEST_VERSION:=1.0.0-20260101-0000000}"
: "${KELPIE_TEST_SDE:=1767225600}"

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }
skip() { echo "SKIP $*"; }

# The agent to put into test images: the real one when guest-agent/scripts/build.sh builds it,
# else the TEST-ONLY script init (tests/fixtures/test-init.sh). Sets agent, agent_kind.
pick_agent() { # arch
  local arch=$1 out
  agent=$tests_dir/fixtures/test-init.sh agent_kind=test-init
  if [ "${KELPIE_TEST_FORCE_TEST_INIT:-0}" != 1 ] && [ -x "$repo/guest-agent/scripts/build.sh" ]; then
    if out=$("$repo/guest-agent/scripts/build.sh" --arch "$arch" 2>"$KELPIE_TEST_WORK/agent-build-$arch.log" | tail -1) \
       && [ -f "$out" ]; then
      agent=$out agent_kind=real
    else
      echo "NOTE guest-agent/scripts/build.sh --arch $arch failed (log: $KELPIE_TEST_WORK/agent-build-$arch.log); using the test init" >&2
    fi
  fi
}

# clone_head DEST: a checkout of this repository's HEAD commit alone at DEST (uncommitted changes are not in it).
clone_head() {
  git init -q "$1" && git -C "$1" fetch -q --depth 1 "file://$repo" "$(git -C "$repo" rev-parse HEAD)" \
    && git -C "$1" checkout -q --detach FETCH_HEAD
}

# One throwaway minisign key per run, shared by all builds so that signatures compare equal too.
test_sign_key() {
  local k=$KELPIE_TEST_WORK/keys/test.key
  if [ ! -f "$k" ]; then
    mkdir -p "$KELPIE_TEST_WORK/keys"
    minisign -G -W -p "$KELPIE_TEST_WORK/keys/test.pub" -s "$k" >/dev/null
  fi
  echo "$k"
}

# build_image OUTDIR ARCH FLAVOR AGENT -> prints the image dir; log in OUTDIR.log
build_image() {
  local out=$1 arch=$2 flavor=$3 ag=$4
  SOURCE_DATE_EPOCH=$KELPIE_TEST_SDE "$ib/build.sh" --arch "$arch" --version "$KELPIE_TEST_VERSION" \
    --flavor "$flavor" --agent "$ag" --agent-version "${agent_version_override:-0.0.0-test}" \
    --agent-protocol 1 --sign-key "$(test_sign_key)" --out "$out" >"$out.stdout" 2>"$out.log" || return 1
  tail -1 "$out.stdout"
}

# boot_agent_image IMAGE_DIR KERNEL NAME: boot an image that carries the real agent (boot-qemu.sh
# --keep-going), wait until the agent listens on its virtio-serial port, and arrange for QEMU to be
# stopped on exit. Sets agent_sock, agent_log, agent_t0, agent_listen_s (seconds after QEMU start). Returns 1 with
# a FAIL line when the agent never listens.
boot_agent_image() {
  local img=$1 kernel=$2 name=$3 qpid qwork _
  agent_sock=$KELPIE_TEST_WORK/$name.sock agent_log=$KELPIE_TEST_WORK/boot-$name.log
  rm -f "$agent_sock"
  agent_t0=$(date +%s.%N)
  read -r qpid _ _ qwork < <("$tests_dir/boot-qemu.sh" "$img" --kernel "$kernel" --timeout 240 \
    --console-log "$agent_log" --agent-socket "$agent_sock" --keep-going)
  # shellcheck disable=SC2064 # expand now: the values are this boot's
  trap "kill \$(cat '$qwork/qemu.pid' 2>/dev/null) 2>/dev/null; wait $qpid 2>/dev/null; rm -rf '$qwork'" EXIT
  local deadline=$(( $(date +%s) + 180 ))
  until grep -q "listening on serial" "$agent_log" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.2; done
  agent_listen_s=$(grep -m1 "listening on serial" "$agent_log" | awk '{print $1}')
  [ -n "$agent_listen_s" ] && return 0
  fail "$name: agent never listened on the serial port (console: $(tail -5 "$agent_log" | tr '\n' '|'))"
  return 1
}

# agent_call METHOD JSON: one unary or server-streaming call to kelpie.agent.v1.Agent through the
# socket of boot_agent_image, with buf curl; prints the JSON responses. Retries on a new connection
# (up to 4), since the first connection can race the agent's serial resynchronisation.
agent_call() {
  local i r buf=${KELPIE_BUF:-$repo/tools/node_modules/.bin/buf}
  for i in 1 2 3 4; do
    if r=$(printf '%s\n' "$2" | timeout 30 "$buf" curl --schema "$repo/proto" --protocol grpc --http2-prior-knowledge \
             --unix-socket "$agent_sock" -d @- "http://localhost/kelpie.agent.v1.Agent/$1" 2>&1); then
      echo "$r"; [ "$i" = 1 ] || echo "INFO $1 needed $i connections" >&2; return 0
    fi
  done
  echo "$r"; return 1
}

# check_agent_info_and_uname ARCH: Info answers with the test version and ARCH; Exec `uname -m` prints ARCH.
check_agent_info_and_uname() {
  local arch=$1 info ex
  info=$(agent_call Info '{}')
  if echo "$info" | grep -q "\"imageVersion\": \"$KELPIE_TEST_VERSION\"" && echo "$info" | grep -q "\"arch\": \"$arch\""; then
    pass "$arch: Info over virtio-serial: imageVersion $KELPIE_TEST_VERSION, arch $arch, $(echo "$info" | grep -m1 agentVersion | tr -d ' ,')"
  else fail "$arch: Info over virtio-serial: $(echo "$info" | tr -s '\n ' ' ')"; fi
  echo "INFO $arch: first answered Info $(echo "$(date +%s.%N) - $agent_t0" | bc | xargs printf '%.2f') s after QEMU start (agent listening at $agent_listen_s s)"
  ex=$(agent_call Exec '{"start":{"argv":["uname","-m"]}}')
  if echo "$ex" | grep -q "\"data\": \"$(printf '%s\n' "$arch" | base64)\"" && echo "$ex" | grep -q '"exitCode": 0\|"exited": {}'; then
    pass "$arch: Exec uname -m over virtio-serial prints $arch and exits 0"
  else fail "$arch: Exec uname -m over virtio-serial: $(echo "$ex" | tr -s '\n ' ' ' | cut -c1-300) (agent console: $(grep kelpie-agent "$agent_log" | tail -2 | tr '\n' '|'))"; fi
}
