#!/usr/bin/env bash
# Packs the daemon's release tarball from a built checkout (./mvnw package -DskipTests -pl host-daemon -am): kelpied,
# the kelpie CLI and the Quarkus app in the /opt/kelpie layout the service definitions expect. release.yml runs it;
# scripts/repro.sh runs it in two clones and compares the results.
#   scripts/pack-release.sh VERSION [DIST]    -> DIST/kelpie-VERSION-jvm.tar.gz (DIST default: ./dist); prints its path
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'pack-release: error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: scripts/pack-release.sh VERSION [DIST]"
v=$1 dist=${2:-dist}
[ -d "$root/host-daemon/target/quarkus-app" ] || die "no host-daemon/target/quarkus-app: run ./mvnw -B -ntp package -DskipTests -pl host-daemon -am first"
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
cd "$root"
rm -rf "$dist/kelpie-$v"
r=$dist/kelpie-$v
mkdir -p "$r/bin" "$r/lib" "$r/app"
cp host-daemon/bin/kelpied host-daemon/bin/kelpie "$r/bin/"
cp scripts/find-jdk.sh "$r/lib/"
cp -r host-daemon/target/quarkus-app/. "$r/app/"
cp -r deploy README.md "$r/"
# the launchers look for app/ through KELPIE_APP_DIR, set by the service definitions' KELPIE_HOME
tar -C "$dist" --sort=name --owner=0 --group=0 --numeric-owner -czf "$dist/kelpie-$v-jvm.tar.gz" "kelpie-$v"
echo "$dist/kelpie-$v-jvm.tar.gz"
