#!/usr/bin/env bash
# Benchmarks kelpied against the raw path (the same qemu command line plus direct agent calls), side by side,
# then teleport (TeleportBench.java): snapshot time and size per kind, restore → first exec against cold boot,
# then fork (ForkBench.java): fork → first exec against cold create, and the PSS of 10 copies against 11 × the source's,
# then how 3 fork copies hold the source's memory (ForkSharingBench.java: shared on QEMU >= 8.2, copied on 7.2),
# then idle actions (IdleBench.java): pause and suspend → resume on the next exec,
# then a soak for leaks (SoakBench.java): the daemon's threads, fds and heap after GC before and after.
# then the egress path (EgressBench.java): per-request latency and download throughput through the allowlisting proxy,
# then the libkrun VM runner's own cost (RunnerBench.java): start to krun_start_enter and resident memory,
# then, given the other arch's image too, checkpoint restore across arch (CrossArchBench.java): native vs emulated.
# The daemon's own cost without an emulator (a host-process agent) is bench/overhead.sh, its start and memory
# bench/footprint.sh; both run apart from this.
#
#   bench/run.sh IMAGE_DIR [OTHER_ARCH_IMAGE_DIR]
#
# IMAGE_DIR is an image-build output directory (e.g. ~/.cache/kelpie/images/0.1.0-dev/x86_64 from
# `scripts/dev run`). Needs the daemon built (./mvnw -pl host-daemon -am package -DskipTests). Starts its own
# daemon (TCG, warm pool of 1) on a scratch state directory and stops it at the end. Prints a Markdown table for
# docs/benchmarks.md. Not a test: it asserts nothing and takes about 15 minutes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 1 ] || [ $# -eq 2 ] || { echo "usage: bench/run.sh IMAGE_DIR [OTHER_ARCH_IMAGE_DIR]" >&2; exit 2; }
image=$(cd "$1" && pwd)
other_image=""
if [ $# -eq 2 ]; then other_image=$(cd "$2" && pwd); fi
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
app=$root/host-daemon/target/quarkus-app
[ -d "$app/lib/main" ] || { echo "build the daemon first: ./mvnw -pl host-daemon -am package -DskipTests" >&2; exit 1; }
arch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["arch"])' "$image/metadata.json")
scratch=$(mktemp -d)  # under $TMPDIR, like every mktemp
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
KELPIE_STATE_DIR=$scratch/state KELPIE_API_SOCKET=$scratch/k.sock "$root/host-daemon/bin/kelpied" \
  -Dkelpie.images.dirs="$image${other_image:+,$other_image}" -Dkelpie.qemu.accelerator=tcg -Dkelpie.probe.boot-timeout=2s \
  -Dkelpie.sandboxes.warm-pool-size=1 -Dkelpie.sandboxes.reap-interval=1s >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 600); do [ -S "$scratch/k.sock" ] && break; sleep 0.1; done
[ -S "$scratch/k.sock" ] || { echo "kelpied did not start:"; cat "$scratch/daemon.log"; exit 1; } >&2
echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), image $(basename "$(dirname "$image")")/$arch, TCG" >&2
# The same classpath as bin/kelpie: the daemon's jars without its log manager.
classpath=$(printf "%s:" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
# One bench's Java source run against the daemon: run_bench NAME ARGS... (bench/NAME.java).
run_bench() {
  local name=$1; shift
  "$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Dslf4j.internal.verbosity=ERROR -cp "$classpath" "$here/$name.java" "$@"
}
run_bench KelpieBench "$scratch/k.sock" "$image" "$scratch" "$arch"
echo >&2
echo "teleport:" >&2
run_bench TeleportBench "$scratch/k.sock"
echo >&2
echo "fork:" >&2
run_bench ForkBench "$scratch/k.sock" "$scratch/state"
echo >&2
echo "fork copies' shared memory:" >&2
run_bench ForkSharingBench "$scratch/k.sock" "$scratch/state"
echo >&2
echo "idle actions:" >&2
run_bench IdleBench "$scratch/k.sock"
echo >&2
echo "soak (leaks):" >&2
run_bench SoakBench "$scratch/k.sock" "$daemon_pid"
echo >&2
echo "egress proxy:" >&2
run_bench EgressBench "$scratch/k.sock"
echo >&2
echo "libkrun VM runner (against the libkrun double):" >&2
# The daemon's own command line for its runners (RunnerLauncher prints it): options and class path; with the app's AOT
# cache (scripts/make-aot-caches.sh) as well, side by side, when there is one.
mapfile -t runner < <("$java_home/bin/java" -cp "$classpath" dev.kelpie.daemon.hypervisor.libkrun.RunnerLauncher)
runner_opts=("${runner[@]:1:${#runner[@]}-4}")
runner_configs=("runner=${runner_opts[*]}")
[ -f "$app/vm-runner.aot" ] && runner_configs+=("runner+aot=${runner_opts[*]} -XX:AOTCache=$app/vm-runner.aot")
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED -cp "$root/vm-runner/target/test-classes:${runner[-2]}" \
  -Drunner.classPath="${runner[-2]}" "$here/RunnerBench.java" "$scratch" "$java_home/bin/java" "${runner_configs[@]}"
if [ -n "$other_image" ]; then
  other_arch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["arch"])' "$other_image/metadata.json")
  echo >&2
  echo "checkpoint restore across arch ($arch native, $other_arch emulated):" >&2
  run_bench CrossArchBench "$scratch/k.sock" "$arch" "$other_arch"
fi
