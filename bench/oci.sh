#!/usr/bin/env bash
# OCI images (issue 20): pull and root-build times of a ~30 MB image from Debian's docker-registry on loopback, cold
# and warm (bench/OciBench.java). Needs the daemon and its tests compiled
# (./mvnw -pl proto,teleport,vm-runner,host-daemon verify -Dtest=OciPullerTest ...), docker-registry and mke2fs.
#
#   bench/oci.sh [AGENT_BINARY]      # default: a stand-in file (the agent is only copied into the root)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
app=$root/host-daemon/target/quarkus-app
tests=$root/host-daemon/target/test-classes
[ -d "$app/lib/main" ] && [ -d "$tests" ] || { echo "build the daemon and its tests first" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
agent=${1:-$scratch/agent}
[ -f "$agent" ] || head -c $((4 << 20)) /dev/urandom > "$agent"
classpath=$(printf "%s:" "$tests" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), $(mke2fs -V 2>&1 | head -1)" >&2
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED -Dslf4j.internal.verbosity=ERROR -cp "$classpath" \
  "$here/OciBench.java" "$scratch" "$agent"
