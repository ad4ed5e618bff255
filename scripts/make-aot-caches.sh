#!/usr/bin/env bash
# Makes the JDK 25 AOT caches (JEP 483/514/515) of an installed or packed Quarkus app directory, by training runs on
# this machine's JDK (kelpie_find_jdk):
#   APP_DIR/kelpied.aot    the daemon: kelpied starts on a scratch state dir, answers Host.Info and a List, stops
#   APP_DIR/vm-runner.aot  the libkrun VM runner: a run against the libkrun double (built with gcc from
#                          vm-runner's test resources when this is a source tree) up to krun_start_enter, made to fail
#                          there so that the JVM exits and writes the cache
# bin/kelpied and the daemon's RunnerLauncher use them when present. A cache holds only for the JDK build that made it
# and the app's jars as they are: with another JDK the JVM says so in one warning line and starts without it (so after
# a JDK upgrade, run this again). The app directory may move: paths are checked relative to it.
#   scripts/make-aot-caches.sh APP_DIR
# scripts/pack-release.sh runs it on the packed app (the release build step); ~30 s.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'make-aot-caches: error: %s\n' "$*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: scripts/make-aot-caches.sh APP_DIR"
app=$(cd "$1" && pwd)
[ -f "$app/quarkus-run.jar" ] || die "$app/quarkus-run.jar not found"
source "$root/scripts/find-jdk.sh"
java_home=$(kelpie_find_jdk)
work=$(mktemp -d)
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- the daemon: bin/kelpied's own options plus the cache's output, so that the training run is the daemon it serves
rm -f "$app/kelpied.aot"
launcher=$root/host-daemon/bin/kelpied; [ -x "$launcher" ] || launcher=$(dirname "$app")/bin/kelpied
cli=$(dirname "$launcher")/kelpie
: >"$work/empty.properties"  # the defaults, not this machine's /etc/kelpie
KELPIE_APP_DIR=$app KELPIE_CONFIG=$work/empty.properties KELPIE_STATE_DIR=$work/state KELPIE_API_SOCKET=$work/k.sock \
  "$launcher" -XX:AOTCacheOutput="$app/kelpied.aot" -Dkelpie.sandboxes.warm-pool-size=0 -Dkelpie.probe.cache-dir="$work/probe" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 1200); do
  KELPIE_APP_DIR=$app "$cli" --socket "$work/k.sock" info >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; die "kelpied exited during its training run"; }
  sleep 0.1
done
KELPIE_APP_DIR=$app "$cli" --socket "$work/k.sock" sandbox ls >/dev/null || { cat "$work/daemon.log" >&2; die "kelpied did not answer"; }
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""
[ -s "$app/kelpied.aot" ] || { cat "$work/daemon.log" >&2; die "no $app/kelpied.aot was written"; }

# --- the VM runner: the daemon's own command line for it (RunnerLauncher's main prints it, without a cache), since the
# cache holds only for that class path and those heap options
rm -f "$app/vm-runner.aot"
classpath=$(printf "%s:" "$app"/app/*.jar $(ls "$app"/lib/boot/*.jar "$app"/lib/main/*.jar | grep -v -e logmanager -e slf4j-jboss))
mapfile -t runner < <("$java_home/bin/java" -cp "$classpath" dev.kelpie.daemon.hypervisor.libkrun.RunnerLauncher)
[ "${#runner[@]}" -gt 3 ] || die "could not get the runner's command line from RunnerLauncher"
double_src=$root/vm-runner/src/test/resources/krun-double/libkrun_double.c
[ -f "$double_src" ] || die "no libkrun double at $double_src (run this from a source tree)"
gcc -std=c11 -D_GNU_SOURCE -O1 -shared -fPIC -I "$root/vm-runner/src/main/resources/dev/kelpie/runner" \
  -o "$work/libkrun.so.1" "$double_src"
mkdir -p "$work/vm" "$work/record"
cat >"$work/vm/runner.json" <<JSON
{"library":"$work/libkrun.so.1","logLevel":2,"arch":"$(uname -m)","vcpuCount":1,"memoryMib":256,
 "kernel":"/nonexistent/vmlinux","kernelCmdline":"console=hvc0","rootDisk":"/nonexistent/rootfs.ext4",
 "writableDisk":"$work/vm/rw.ext4","agentVsockPort":1024,"agentSocket":"$work/vm/agent.sock",
 "consoleLog":"$work/vm/console.log","kvmDevice":"/dev/kvm","rlimits":[],"guestEnv":[]}
JSON
set +e
KRUN_DOUBLE_DIR=$work/record KRUN_DOUBLE_FAIL=krun_start_enter:5 \
  "${runner[0]}" -XX:AOTCacheOutput="$app/vm-runner.aot" "${runner[@]:1}" "$work/vm/runner.json" >"$work/runner.log" 2>&1
status=$?
set -e
[ "$status" -eq 71 ] || { cat "$work/runner.log" >&2; die "the runner's training run ended with $status, not 71"; }
[ -s "$app/vm-runner.aot" ] || { cat "$work/runner.log" >&2; die "no $app/vm-runner.aot was written"; }
echo "$app/kelpied.aot"
echo "$app/vm-runner.aot"
