#!/usr/bin/env bash
# Reproducibility across checkouts: HEAD cloned into two directories whose paths differ in length, the agent and the
# minimal image of this host's arch built in each (kernel from the cache), every file compared byte for byte, the
# agents checked for build paths (scripts/repro.sh; `scripts/dev repro` runs it with both arches, the kernels
# rebuilt and the daemon's tarball). test_20 cannot see an embedded path: it builds twice from one checkout.
# Only committed changes are tested: the clones are of HEAD.
. "$(dirname "$0")/lib.sh"
arch=$(uname -m)
if [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rustc ]; then skip "two checkouts: no Debian cargo/rustc to build the agent"; exit 0; fi
if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then skip "two checkouts: $repo is not a git checkout"; exit 0; fi
work=$KELPIE_TEST_WORK/two-checkouts
mkdir -p "$work"
t0=$(date +%s)
"$repo/scripts/repro.sh" --arch "$arch" --work "$work" >"$work.out" 2>"$work.log"; rc=$?
echo "INFO two checkouts: $(( $(date +%s) - t0 )) s ($(grep -E '^repro: [ab]: .* done in' "$work.log" | sed 's/^repro: //' | tr '\n' ';'))"
if [ "$rc" = 0 ]; then
  pass "two checkouts ($arch): $(grep '^all ' "$work.out")"
elif grep -q '^first difference\|^LEAKS' "$work.out"; then
  fail "two checkouts ($arch): $(grep '^first difference' "$work.out") ($(grep -m1 '^DIFFERS' "$work.out" | cut -c10-)); $(grep '^LEAKS' "$work.out" | tr -s ' \n' ' ')"
else
  fail "two checkouts ($arch): scripts/repro.sh exited $rc: $(tail -3 "$work.log" | tr '\n' '|')"
fi
