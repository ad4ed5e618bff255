#!/usr/bin/env bash
# The daemon's start time and memory (bench/FootprintBench.java) for the JVM options given after the image:
#
#   bench/footprint.sh AGENT_BINARY IMAGE_DIR [JVM_OPTION...]
#
# Starts kelpied (bin/kelpied, warm pool off) on a scratch state directory, with its sandboxes' "VMs" being host-process
# agents behind the libkrun double (see bench/overhead.sh); prints start → first answered Health, RSS once idle for
# 10 s, and RSS with 10 sandboxes. Not a test; about a minute.
# KELPIED: another launcher with KELPIE_APP_DIR (e.g. the bin/kelpied of the build before a change)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 2 ] || { echo "usage: bench/footprint.sh AGENT_BINARY IMAGE_DIR [JVM_OPTION...]" >&2; exit 2; }
agent=$(realpath "$1"); image=$(cd "$2" && pwd); shift 2
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
app=${KELPIE_APP_DIR:-$root/host-daemon/target/quarkus-app}
scratch=$(mktemp -d)
cleanup() {
  for pid in $(ps -eo pid=,args= | awk -v d="$scratch/" 'index($0, d) {print $1}'); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/double"
gcc -std=c11 -D_GNU_SOURCE -O1 -shared -fPIC -I "$root/vm-runner/src/main/resources/dev/kelpie/runner" \
  -o "$scratch/double/libkrun.so.1" "$root/vm-runner/src/test/resources/krun-double/libkrun_double.c"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$image/metadata.json")
classpath=$(printf "%s:" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
echo "footprint: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), JVM options: ${*:-(none)}" >&2
KRUN_DOUBLE_QEMU=$here/host-agent-vmm.sh KRUN_BENCH_AGENT=$agent KRUN_BENCH_IMAGE_VERSION=$version \
  KELPIE_APP_DIR=$app KELPIE_STATE_DIR=$scratch/state KELPIE_API_SOCKET=$scratch/k.sock \
  "$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dslf4j.internal.verbosity=ERROR -cp "$classpath" "$here/FootprintBench.java" "$scratch/k.sock" "$scratch/daemon.log" \
  "${KELPIED:-$root/host-daemon/bin/kelpied}" "$@" --backend=libkrun -Dkelpie.libkrun.library="$scratch/double/libkrun.so.1" \
  -Dkelpie.images.dirs="$image" -Dkelpie.sandboxes.warm-pool-size=0
