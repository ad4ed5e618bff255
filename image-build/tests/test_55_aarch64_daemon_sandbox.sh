#!/usr/bin/env bash
# aarch64 through the daemon: the packaged kelpied (host-daemon/bin/kelpied, as scripts/dev run starts it) serves the
# aarch64 image test_50 built with the real agent; `kelpie sandbox create --arch aarch64` boots it (emulated under
# TCG on an x86_64 host), `kelpie exec` runs `uname -m`, `kelpie sandbox rm` deletes it, and nothing is left: no
# sandbox, no runtime directory, no process. Skipped with the reason where the daemon is not built (scripts/dev test
# builds it before these tests) or the aarch64 tools are missing. Run alone, it builds the image itself.
. "$(dirname "$0")/lib.sh"
command -v qemu-system-aarch64 >/dev/null || { skip "aarch64 sandbox: no qemu-system-aarch64 (apt-get install qemu-system-arm)"; exit 0; }
daemon_dir=$repo/host-daemon
[ -f "$daemon_dir/target/quarkus-app/quarkus-run.jar" ] \
  || { skip "aarch64 sandbox: kelpied is not built (./mvnw -pl host-daemon -am package -DskipTests)"; exit 0; }
img_root=$KELPIE_TEST_WORK/agent-arm
if [ ! -d "$img_root/$KELPIE_TEST_VERSION/aarch64" ]; then
  command -v aarch64-linux-gnu-gcc >/dev/null || { skip "aarch64 sandbox: no cross compiler (apt-get install gcc-aarch64-linux-gnu)"; exit 0; }
  dpkg --print-foreign-architectures | grep -qx arm64 || { skip "aarch64 sandbox: dpkg architecture arm64 not added"; exit 0; }
  pick_agent aarch64
  [ "$agent_kind" = real ] || { skip "aarch64 sandbox: guest-agent/scripts/build.sh --arch aarch64 did not produce a binary"; exit 0; }
  agent_version_override=$("$agent" --version 2>/dev/null | awk '{print $2}')
  mkdir -p "$img_root"
  build_image "$img_root" aarch64 minimal "$agent" >/dev/null || { fail "aarch64 sandbox: image build failed: $(tail -5 "$img_root.log")"; exit 1; }
fi

work=$KELPIE_TEST_WORK/aarch64-daemon
rm -rf "$work"; mkdir -p "$work"
state=$work/state sock=$work/kelpied.sock
API_DEADLINE_S=120 BOOT_DEADLINE_S=60
kelpie() { timeout "$BOOT_DEADLINE_S" "$daemon_dir/bin/kelpie" --socket "$sock" "$@"; }
# Processes other than this shell's whose command line names the scratch directory: the daemon and its VMs.
naming_work() { pgrep -a -f -- "$work" | grep -v -e "^$$ " -e pgrep || true; }
daemon_pid=
# shellcheck disable=SC2317 # called by the trap
stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    local deadline=$((SECONDS + 30))
    while kill -0 "$daemon_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=
  fi
}
# A failed step must not leave the daemon or a VM behind: VMs outlive daemons by design.
trap 'stop_daemon; pkill -KILL -f -- "$work" 2>/dev/null' EXIT

t0=$(date +%s.%N)
# Its own state, socket, probe cache and (empty) config file: nothing of this host's daemons is read or touched.
: >"$work/kelpied.properties"
KELPIE_STATE_DIR=$state KELPIE_API_SOCKET=$sock KELPIE_PROBE_CACHE_DIR=$work/probe-cache KELPIE_CONFIG=$work/kelpied.properties \
  "$daemon_dir/bin/kelpied" -Dkelpie.images.dirs="$img_root" -Dkelpie.qemu.accelerator=tcg \
  -Dkelpie.sandboxes.default-memory-mib=256 </dev/null >"$work/daemon.log" 2>&1 &
daemon_pid=$!
deadline=$((SECONDS + API_DEADLINE_S))
until kelpie info >"$work/info.txt" 2>/dev/null; do
  if ! kill -0 "$daemon_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    fail "aarch64 sandbox: kelpied did not serve within ${API_DEADLINE_S} s (log: $(tail -5 "$work/daemon.log" | tr '\n' '|'))"; exit 1
  fi
  sleep 0.5 # polling a socket that has no readiness signal of its own
done
echo "INFO aarch64 sandbox: kelpied serving after $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s"

t1=$(date +%s.%N)
id=$(kelpie sandbox create --arch aarch64 2>"$work/create.err") \
  || { fail "aarch64 sandbox: create failed: $(tr '\n' '|' <"$work/create.err") (daemon log: $(tail -3 "$work/daemon.log" | tr '\n' '|'))"; exit 1; }
echo "INFO aarch64 sandbox: created (booted under TCG) in $(echo "$(date +%s.%N) - $t1" | bc | xargs printf '%.1f') s"
shown=$(kelpie sandbox show "$id" 2>&1)
if echo "$shown" | grep -qF "(aarch64, emulated)" || [ "$(uname -m)" = aarch64 ]; then
  pass "aarch64 sandbox: the daemon created $id as aarch64$([ "$(uname -m)" = aarch64 ] || echo ", emulated")"
else fail "aarch64 sandbox: kelpie sandbox show does not show it as an emulated aarch64 guest: $(echo "$shown" | tr '\n' '|')"; fi
machine=$(kelpie exec "$id" -- uname -m 2>"$work/exec.err")
if [ "$machine" = aarch64 ]; then pass "aarch64 sandbox: kelpie exec uname -m prints aarch64"
else fail "aarch64 sandbox: kelpie exec uname -m printed '$machine' ($(tr '\n' '|' <"$work/exec.err"))"; fi

kelpie sandbox rm "$id" >"$work/rm.out" 2>&1 || fail "aarch64 sandbox: kelpie sandbox rm failed: $(tr '\n' '|' <"$work/rm.out")"
left=$(kelpie sandbox ls 2>&1 | tail -n +2; ls -A "$state/vms" "$state/sandboxes" | grep -v -e "^$state" -e "^$";
  naming_work | grep -v "^$daemon_pid ")
if [ -z "$left" ]; then pass "aarch64 sandbox: after rm no sandbox, record, runtime directory or VM is left"
else fail "aarch64 sandbox: left after rm: $(echo "$left" | tr '\n' '|' | cut -c1-400)"; fi
stop_daemon
left=$(naming_work)
if [ -z "$left" ]; then pass "aarch64 sandbox: kelpied stopped, no process of it or its VM remains"
else fail "aarch64 sandbox: processes left after kelpied stopped: $(echo "$left" | tr '\n' '|' | cut -c1-400)"; fi
echo "INFO aarch64 sandbox: $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s from daemon start to stop"
