#!/usr/bin/env bash
# OCI images (issue 20), with Debian's docker-registry on loopback:
#   bench/oci.sh [AGENT_BINARY]       pull and root-build times of a ~30 MB image, cold and warm (bench/OciBench.java);
#                                     default agent: a stand-in file (the agent is only copied into the root)
#   bench/oci.sh --create IMAGE_DIR   Create → first exec of OCI images against our minimal image on a daemon the
#                                     bench starts (TCG, no warm pool; bench/OciCreateBench.java); IMAGE_DIR is an
#                                     image-build output directory, e.g. ~/.cache/kelpie/images/0.1.0-dev/x86_64
# Needs the daemon and its tests compiled (./mvnw -pl proto,teleport,vm-runner,host-daemon verify -Dtest=OciPullerTest
# ...), docker-registry and mke2fs (and busybox-static for --create).
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
classpath=$(printf "%s:" "$tests" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), $(mke2fs -V 2>&1 | head -1)" >&2
if [ "${1:-}" = --create ]; then
  [ $# -eq 2 ] || { echo "usage: bench/oci.sh --create IMAGE_DIR" >&2; exit 2; }
  bench=(OciCreateBench.java "$root/host-daemon/bin/kelpied" "$(cd "$2" && pwd)" "$scratch")
else
  agent=${1:-$scratch/agent}
  [ -f "$agent" ] || head -c $((4 << 20)) /dev/urandom > "$agent"
  bench=(OciBench.java "$scratch" "$agent")
fi
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dslf4j.internal.verbosity=ERROR -cp "$classpath" "$here/${bench[0]}" "${bench[@]:1}"
