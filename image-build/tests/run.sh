#!/usr/bin/env bash
# Run all image-build tests: image-build/tests/run.sh [TEST-NAME-SUBSTRING...]
# Prints PASS/FAIL/SKIP lines and, last, exactly "N passed, M failed"; exits non-zero on any failure.
# Needs root (image builds) and the packages in image-build/packages.txt. The first run builds the
# x86_64 kernel (7-15 min on 2 cores); later runs take it from ${KELPIE_CACHE_DIR:-~/.cache/kelpie}.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export KELPIE_TEST_WORK=${KELPIE_TEST_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kelpie-image-tests.XXXXXX")}
passed=0 failed=0 skipped=0
start=$(date +%s)
for t in "$here"/test_*.sh; do
  name=$(basename "$t" .sh)
  if [ $# -gt 0 ]; then match=0; for f in "$@"; do case "$name" in *"$f"*) match=1 ;; esac; done; [ $match = 1 ] || continue; fi
  echo "== $name" >&2
  t0=$(date +%s)
  out=$(bash "$t" 2> >(tee "$KELPIE_TEST_WORK/$name.stderr" >&2)); rc=$?
  printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP|INFO) ' || true
  p=$(printf '%s\n' "$out" | grep -c '^PASS ' || true)
  f=$(printf '%s\n' "$out" | grep -c '^FAIL ' || true)
  s=$(printf '%s\n' "$out" | grep -c '^SKIP ' || true)
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then echo "FAIL $name: exited $rc without reporting a failure"; f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  echo "   ($name: $(( $(date +%s) - t0 )) s)" >&2
done
echo "($skipped skipped; $(( $(date +%s) - start )) s; scratch: $KELPIE_TEST_WORK)"
[ "$failed" = 0 ] && [ "${KELPIE_TEST_KEEP:-0}" != 1 ] && rm -rf "$KELPIE_TEST_WORK"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
