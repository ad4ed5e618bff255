#!/usr/bin/env bash
# The daemon's own cost without an emulator (bench/OverheadBench.java): the real agent binary runs as a host
# process, once called directly and once as the "VM" of a kelpied sandbox, through a test-only seam: the libkrun
# backend with vm-runner's libkrun double, whose krun_start_enter execs bench/host-agent-vmm.sh instead of qemu.
#
#   bench/overhead.sh AGENT_BINARY IMAGE_DIR [--profile JFR_FILE]
#
# AGENT_BINARY is a static guest agent (guest-agent/scripts/build.sh prints its path); IMAGE_DIR an image-build output
# directory (its kernel and disks are never booted, but Create resolves an image). --profile records a JFR profile of
# the daemon under a steady exec and stream load instead of measuring. Needs the daemon built
# (./mvnw -pl host-daemon -am package -DskipTests) and gcc. Not a test: it asserts nothing; about 2 minutes.
# KELPIED: another launcher with KELPIE_APP_DIR (e.g. the bin/kelpied of the build before a change)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 2 ] || [ $# -eq 4 ] || { echo "usage: bench/overhead.sh AGENT_BINARY IMAGE_DIR [--profile JFR_FILE]" >&2; exit 2; }
agent=$(realpath "$1"); image=$(cd "$2" && pwd)
profile=()
bench_mode=()
if [ $# -eq 4 ]; then
  profile=("-XX:StartFlightRecording=filename=$(realpath -m "$4"),settings=profile")
  bench_mode=(--profile)
fi
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
# KELPIE_APP_DIR: another build of the daemon (e.g. the one before a change, for a before/after run)
app=${KELPIE_APP_DIR:-$root/host-daemon/target/quarkus-app}
[ -d "$app/lib/main" ] || { echo "build the daemon first: ./mvnw -pl host-daemon -am package -DskipTests" >&2; exit 1; }
scratch=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  # sandbox "VMs" (runners and their agents) outlive the daemon by design
  for pid in $(ps -eo pid=,args= | awk -v d="$scratch/" 'index($0, d) {print $1}'); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/double"
gcc -std=c11 -D_GNU_SOURCE -O1 -shared -fPIC -I "$root/vm-runner/src/main/resources/dev/kelpie/runner" \
  -o "$scratch/double/libkrun.so.1" "$root/vm-runner/src/test/resources/krun-double/libkrun_double.c"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$image/metadata.json")
KRUN_DOUBLE_QEMU=$here/host-agent-vmm.sh KRUN_BENCH_AGENT=$agent KRUN_BENCH_IMAGE_VERSION=$version \
  KELPIE_APP_DIR=$app KELPIE_STATE_DIR=$scratch/state KELPIE_API_SOCKET=$scratch/k.sock "${KELPIED:-$root/host-daemon/bin/kelpied}" \
  ${profile[@]+"${profile[@]}"} --backend=libkrun -Dkelpie.libkrun.library="$scratch/double/libkrun.so.1" \
  -Dkelpie.images.dirs="$image" -Dkelpie.sandboxes.warm-pool-size=1 >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 600); do [ -S "$scratch/k.sock" ] && break; sleep 0.1; done
[ -S "$scratch/k.sock" ] || { echo "kelpied did not start:"; cat "$scratch/daemon.log"; exit 1; } >&2
echo "overhead bench: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)" >&2
classpath=$(printf "%s:" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dslf4j.internal.verbosity=ERROR -cp "$classpath" "$here/OverheadBench.java" "$scratch/k.sock" "$agent" "$scratch" \
  ${bench_mode[@]+"${bench_mode[@]}"} || { echo "bench failed; daemon log:" >&2; tail -50 "$scratch/daemon.log" >&2; exit 1; }
if [ ${#profile[@]} -gt 0 ]; then
  "$java_home/bin/jcmd" "$daemon_pid" JFR.dump filename="$(realpath -m "$4")" >/dev/null
fi
