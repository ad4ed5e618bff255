#!/usr/bin/env bash
# Packs the daemon's release tarball from a built checkout (./mvnw -B -ntp package -DskipTests -pl host-daemon -am):
# kelpied, the kelpie CLI and the Quarkus app in the /opt/kelpie layout the service definitions expect. release.yml
# runs it; scripts/repro.sh runs it in two clones and compares the results.
#   scripts/pack-release.sh VERSION [DIST]    -> DIST/kelpie-VERSION-jvm.tar.gz (DIST default: ./dist); prints its path
# The same commit packs the same bytes from any checkout, at any time, under any umask: every entry has mtime
# SOURCE_DATE_EPOCH (default: HEAD's commit time), owner 0:0, mode 0644 or 0755 (after the executable bit), sorted
# names, GNU format; gzip -n stores neither a name nor a time. The AOT caches (scripts/make-aot-caches.sh, app/*.aot:
# made by training runs on this JDK, so their bytes differ per build) are the exception: KELPIE_PACK_AOT=0 leaves
# them out (scripts/repro.sh does).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'pack-release: error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: scripts/pack-release.sh VERSION [DIST]"
v=$1 dist=${2:-dist}
[ -d "$root/host-daemon/target/quarkus-app" ] || die "no host-daemon/target/quarkus-app: run ./mvnw -B -ntp package -DskipTests -pl host-daemon -am first"
sde=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || true)}
[[ "$sde" =~ ^[0-9]+$ ]] || die "set SOURCE_DATE_EPOCH (no git commit to take the time from)"
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
stage=$(mktemp -d "$dist/.pack-XXXXXX")
trap 'rm -rf "$stage"' EXIT
cd "$root"
r=$stage/kelpie-$v
mkdir -p "$r/bin" "$r/lib" "$r/app"
cp host-daemon/bin/kelpied host-daemon/bin/kelpie "$r/bin/"
cp scripts/find-jdk.sh "$r/lib/"
cp -r host-daemon/target/quarkus-app/. "$r/app/"
cp -r deploy README.md "$r/"
# The JDK 25 AOT caches of the daemon and the VM runner, trained on the packed app itself (bin/kelpied and the runner
# use them when the user's JDK is the build that made them, and start the usual way otherwise).
if [ "${KELPIE_PACK_AOT:-1}" != 0 ]; then
  "$root/scripts/make-aot-caches.sh" "$r/app" >/dev/null
fi
# the launchers look for app/ through KELPIE_APP_DIR, set by the service definitions' KELPIE_HOME
tar -C "$stage" --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX \
    --mtime="@$sde" -cf - "kelpie-$v" | gzip -n > "$stage/kelpie-$v-jvm.tar.gz"
mv "$stage/kelpie-$v-jvm.tar.gz" "$dist/"
echo "$dist/kelpie-$v-jvm.tar.gz"
