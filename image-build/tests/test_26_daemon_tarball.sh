#!/usr/bin/env bash
# The daemon's release tarball (scripts/pack-release.sh, what release.yml publishes) is the same from any checkout:
# HEAD cloned twice, a stand-in for the built Quarkus app put in each at another time and under another umask, each
# clone's script packs it, and the two tarballs must be byte-identical. It runs here, beside the images, because
# this is the suite of shell-built release files; the real Maven build in two clones takes minutes and is part of
# `scripts/dev repro` only. Only committed changes are tested: the clones are of HEAD.
. "$(dirname "$0")/lib.sh"
if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then skip "daemon tarball: $repo is not a git checkout"; exit 0; fi
work=$KELPIE_TEST_WORK/daemon-tarball
rm -rf "$work"; mkdir -p "$work"

# fake_app CLONE UMASK DATE: what ./mvnw package leaves in host-daemon/target/quarkus-app, made under UMASK at DATE.
fake_app() {
  local app=$1/host-daemon/target/quarkus-app
  (umask "$2"
   mkdir -p "$app/lib/main" "$app/app" "$app/quarkus"
   printf 'quarkus-run\n' > "$app/quarkus-run.jar"
   printf 'dependency\n' > "$app/lib/main/dep.jar"
   printf 'kelpie\n' > "$app/app/kelpie-host-daemon.jar"
   printf 'generated\n' > "$app/quarkus/generated-bytecode.jar"
   find "$app" -exec touch -h -d "$3" {} +)
}

t0=$(date +%s)
clone_head "$work/a/kelpie" && clone_head "$work/checkout-b-whose-path-is-longer/kelpie-repro" \
  || { fail "daemon tarball: cannot clone HEAD of $repo"; exit 1; }
fake_app "$work/a/kelpie" 022 "2026-01-02 03:04:05"
fake_app "$work/checkout-b-whose-path-is-longer/kelpie-repro" 002 "2026-02-03 04:05:06"
# Without the AOT caches (KELPIE_PACK_AOT=0, as scripts/repro.sh packs): their training runs write other bytes every
# time, and a stand-in app cannot be trained.
export KELPIE_PACK_AOT=0
ta=$("$work/a/kelpie/scripts/pack-release.sh" 9.9.9-test "$work/dist-a" 2>"$work/a.log" | tail -1) \
  || { fail "daemon tarball: packing in clone A failed: $(tail -3 "$work/a.log" | tr '\n' '|')"; exit 1; }
tb=$(umask 002; "$work/checkout-b-whose-path-is-longer/kelpie-repro/scripts/pack-release.sh" 9.9.9-test "$work/dist-b" 2>"$work/b.log" | tail -1) \
  || { fail "daemon tarball: packing in clone B failed: $(tail -3 "$work/b.log" | tr '\n' '|')"; exit 1; }
echo "INFO daemon tarball: two clones packed in $(( $(date +%s) - t0 )) s"
if cmp -s "$ta" "$tb"; then
  pass "daemon tarball: $(basename "$ta") byte-identical from two checkouts ($(stat -c %s "$ta") B)"
else
  fail "daemon tarball: $(basename "$ta") differs between two checkouts: $(python3 "$repo/scripts/repro-diff.py" "$ta" "$tb")"
fi
members=$(tar -tvzf "$ta" --numeric-owner | awk '{print $1, $2}' | sort -u | tr '\n' ' ')
if [[ "$members" =~ ^((-rw-r--r--|-rwxr-xr-x|drwxr-xr-x)\ 0/0\ )+$ ]]; then pass "daemon tarball: entries 0/0, modes 644/755 ($members)"
else fail "daemon tarball: entries not all 0/0 with modes 644/755: $members"; fi
