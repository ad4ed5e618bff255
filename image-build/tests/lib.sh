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
