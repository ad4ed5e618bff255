#!/usr/bin/env bash
# The egress path on both backends, side by side (issue 23): bench/EgressBench.java against a daemon on QEMU (slirp's
# guestfwd, one socat per connection, the proxy) and against a daemon on libkrun whose library is the C double (the
# agent's relay on 10.0.2.100:3128, vsock port 1025, the proxy). The double carries vsock over a restricted user-mode
# network (ADR 0022 addendum), so its transport is TCP through slirp, not AF_VSOCK: the figure is the relay's cost
# plus slirp's, an upper bound for real libkrun.
#
#   bench/egress-backends.sh IMAGE_DIR
#
# Needs the daemon built (./mvnw -pl host-daemon -am package -DskipTests) and gcc. Starts one daemon per backend on
# scratch state directories, one after the other, and stops each. Prints one Markdown table row pair per backend.
# Not a test: it asserts nothing and takes about 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 1 ] || { echo "usage: bench/egress-backends.sh IMAGE_DIR" >&2; exit 2; }
image=$(cd "$1" && pwd)
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
app=$root/host-daemon/target/quarkus-app
[ -d "$app/lib/main" ] || { echo "build the daemon first: ./mvnw -pl host-daemon -am package -DskipTests" >&2; exit 1; }
scratch=$(mktemp -d)
daemon_pid=""
stop_daemon() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; fi
  daemon_pid=""
}
trap 'stop_daemon; rm -rf "$scratch"' EXIT

# The double as KrunDouble.build compiles it (vm-runner's tests), from the checked-in header and source.
double=$scratch/libkrun.so.1
gcc -std=c11 -D_GNU_SOURCE -O1 -shared -fPIC -I"$root/vm-runner/src/main/resources/dev/kelpie/runner" -o "$double" \
  "$root/vm-runner/src/test/resources/krun-double/libkrun_double.c"
classpath=$(printf "%s:" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))

# bench_on NAME [DAEMON ARGS...]: a daemon of its own for NAME, EgressBench against it, the daemon stopped.
bench_on() {
  local name=$1; shift
  local dir=$scratch/$name
  mkdir -p "$dir/record"
  KELPIE_STATE_DIR=$dir/state KELPIE_API_SOCKET=$dir/k.sock KRUN_DOUBLE_DIR=$dir/record \
    "$root/host-daemon/bin/kelpied" -Dkelpie.images.dirs="$image" -Dkelpie.qemu.accelerator=tcg \
    -Dkelpie.probe.boot-timeout=2s "$@" >"$dir/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 600); do [ -S "$dir/k.sock" ] && break; sleep 0.1; done
  [ -S "$dir/k.sock" ] || { echo "kelpied ($name) did not start:"; cat "$dir/daemon.log"; exit 1; } >&2
  echo "$name:" >&2
  "$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Dslf4j.internal.verbosity=ERROR -cp "$classpath" "$here/EgressBench.java" "$dir/k.sock" | sed "s/^| /| $name: /"
  stop_daemon
}
echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), image $(basename "$(dirname "$image")"), TCG" >&2
bench_on qemu --backend=qemu
bench_on libkrun-double --backend=libkrun -Dkelpie.libkrun.library="$double"
