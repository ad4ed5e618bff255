#!/usr/bin/env bash
# Bad inputs: a clear error, a non-zero exit, and nothing (half-)written in the output directory.
. "$(dirname "$0")/lib.sh"
agent=$tests_dir/fixtures/test-init.sh
w=$KELPIE_TEST_WORK/bad-inputs; mkdir -p "$w"

# expect_error NAME EXPECTED-STDERR-SUBSTRING ARGS... : build.sh must fail, say why, and leave OUT untouched.
expect_error() {
  local name=$1 msg=$2; shift 2
  local out=$w/out-$name
  rm -rf "$out"; mkdir -p "$out"; echo keep > "$out/existing-file"
  SOURCE_DATE_EPOCH=$KELPIE_TEST_SDE "$ib/build.sh" "$@" --out "$out" >"$w/$name.stdout" 2>"$w/$name.stderr"
  local rc=$?
  local left; left=$(cd "$out" && find . -mindepth 1 ! -name existing-file | head -3)
  if [ "$rc" = 0 ]; then fail "$name: build.sh exited 0"
  elif ! grep -qF -- "$msg" "$w/$name.stderr"; then fail "$name: stderr lacks '$msg': $(head -c 300 "$w/$name.stderr")"
  elif [ -n "$left" ]; then fail "$name: left files in the output dir: $left"
  else pass "$name (exit $rc: $(grep -m1 error "$w/$name.stderr"))"; fi
}

for v in 1.0 1.0.0. v1.0.0 01.0.0 1.00.0 1.0.0- 1.0.0+build 1.0.0-a/b "1.0.0 " 1.0.0-é; do
  expect_error "version-$(printf '%s' "$v" | tr -c 'A-Za-z0-9.' '_')" "invalid version" \
    --arch x86_64 --version "$v" --agent "$agent"
done
expect_error missing-version "--version is required" --arch x86_64 --agent "$agent"
expect_error unknown-arch "unknown arch 'riscv64'" --arch riscv64 --version 1.0.0 --agent "$agent"
expect_error missing-arch "--arch is required" --version 1.0.0 --agent "$agent"
expect_error unknown-flavor "unknown flavor 'huge'" --arch x86_64 --version 1.0.0 --flavor huge --agent "$agent"
expect_error missing-agent-arg "--agent PATH is required" --arch x86_64 --version 1.0.0
expect_error missing-agent-file "agent binary not found" --arch x86_64 --version 1.0.0 --agent "$w/no-such-agent"
expect_error agent-is-dir "agent binary not found" --arch x86_64 --version 1.0.0 --agent "$w"
: > "$w/empty-agent"
expect_error empty-agent "agent binary is empty" --arch x86_64 --version 1.0.0 --agent "$w/empty-agent"
expect_error unknown-option "unknown argument '--frobnicate'" --arch x86_64 --version 1.0.0 --agent "$agent" --frobnicate
expect_error missing-sign-key "signing key not found" --arch x86_64 --version 1.0.0 --agent "$agent" --sign-key "$w/nokey"

# Failures in the middle of a build (after the kernel, after the rootfs) leave nothing behind either.
KELPIE_BUILD_TEST_FAIL_AFTER=kernel expect_error fail-after-kernel "test hook: failing after the kernel stage" \
  --arch x86_64 --version 1.0.0-dev --agent "$agent"
KELPIE_BUILD_TEST_FAIL_AFTER=rootfs expect_error fail-after-rootfs "test hook: failing after the rootfs stage" \
  --arch x86_64 --version 1.0.0-dev --agent "$agent"
# An output directory that does not exist yet is not created by a failing build.
rm -rf "$w/fresh-out"
SOURCE_DATE_EPOCH=$KELPIE_TEST_SDE KELPIE_BUILD_TEST_FAIL_AFTER=kernel "$ib/build.sh" --arch x86_64 --version 1.0.0 \
  --agent "$agent" --out "$w/fresh-out" >/dev/null 2>&1
if [ -e "$w/fresh-out" ]; then fail "fresh-out: a failing build created its output directory"; else pass "fresh-out: not created by a failing build"; fi

# The shared regex accepts the documented forms.
re=$(head -1 "$ib/version.regex")
bad=""
for v in 0.0.0 1.0.0 1.0.0-dev 1.0.0-20260115-a3f4d21 10.20.30-rc.1 2.3.4-20261128-ab12cd3; do
  [[ "$v" =~ $re ]] || bad="$bad $v"
done
if [ -z "$bad" ]; then pass "version.regex accepts the documented forms"; else fail "version.regex rejects:$bad"; fi
