#!/usr/bin/env bash
# aarch64: cross-build the minimal image (kernel with Debian's gcc-aarch64-linux-gnu, arm64 .debs without
# emulation) and boot it under qemu-system-aarch64 -M virt (TCG): first to PID 1 with the TEST-ONLY init
# (device checks), then with the real aarch64 agent to an answered Info and `uname -m`.
# Skipped with the reason where the cross toolchain or qemu-system-aarch64 is missing.
# The first run builds the aarch64 kernel (cached afterwards).
. "$(dirname "$0")/lib.sh"
command -v aarch64-linux-gnu-gcc >/dev/null || { skip "aarch64: no cross compiler (apt-get install gcc-aarch64-linux-gnu)"; exit 0; }
command -v qemu-system-aarch64 >/dev/null || { skip "aarch64: no qemu-system-aarch64 (apt-get install qemu-system-arm)"; exit 0; }
dpkg --print-foreign-architectures | grep -qx arm64 || { skip "aarch64: dpkg architecture arm64 not added"; exit 0; }
out=$KELPIE_TEST_WORK/arm
mkdir -p "$out"
t0=$(date +%s)
img=$(build_image "$out" aarch64 minimal "$tests_dir/fixtures/test-init.sh") || { fail "aarch64 build failed: $(tail -5 "$out.log")"; exit 1; }
echo "INFO aarch64 build $(( $(date +%s) - t0 )) s; Image $(stat -c %s "$img/Image") B, rootfs $(stat -c %s "$img/rootfs.ext4") B, archive $(stat -c %s "$img/kelpie-image-$KELPIE_TEST_VERSION-aarch64.tar.zst") B"
if [ "$(od -An -tx1 -j56 -N4 "$img/Image" | tr -d ' \n')" = 41524d64 ]; then pass "aarch64 Image has the arm64 boot header (ARM\\x64)"; else fail "Image lacks the arm64 magic"; fi
log=$KELPIE_TEST_WORK/boot-aarch64.log
"$tests_dir/boot-qemu.sh" "$img" --kernel Image --timeout 120 --console-log "$log" 2>/dev/null
line=$(grep -m1 'KELPIE-TEST-INIT pid=' "$log" || true)
[ -n "$line" ] || { fail "aarch64: PID 1 never ran (console: $(tail -5 "$log" | tr '\n' '|'))"; exit 1; }
echo "INFO aarch64 Image: PID 1 after $(echo "$line" | awk '{print $1}') s wall clock; kernel boot $(echo "$line" | sed -nE 's/.*uptime=([0-9.]+).*/\1/p') s"
missing=""
for w in "pid=1 " "arch=aarch64 " "version=$KELPIE_TEST_VERSION " "KELPIE-TEST-DEV /dev/vdb ok" "KELPIE-TEST-DEV /dev/hwrng ok" \
         "=kelpie.agent" "KELPIE-TEST-RNG virtio_rng" "KELPIE-TEST-OVERLAY ok" "KELPIE-TEST-INIT-DONE"; do
  grep -qF -- "$w" "$log" || missing="$missing [$w]"
done
if [ -z "$missing" ]; then pass "aarch64 Image boots to PID 1 under qemu-system-aarch64 TCG with virtio blk/rng/serial, ext4+overlay"
else fail "aarch64: missing on console:$missing (log $log)"; fi

# The same image with the real aarch64 agent: boots to an answered Info and runs uname -m.
pick_agent aarch64
if [ "$agent_kind" != real ]; then skip "aarch64 real agent: guest-agent/scripts/build.sh --arch aarch64 did not produce a binary"; exit 0; fi
[ -x "${KELPIE_BUF:-$repo/tools/node_modules/.bin/buf}" ] || { skip "aarch64 real agent: no gRPC client (npm ci in tools/)"; exit 0; }
agent_version_override=$("$agent" --version 2>/dev/null | awk '{print $2}') # an arm64 binary: empty unless binfmt runs it
out=$KELPIE_TEST_WORK/agent-arm
mkdir -p "$out"
img=$(build_image "$out" aarch64 minimal "$agent") || { fail "aarch64 build with the real agent failed: $(tail -5 "$out.log")"; exit 1; }
boot_agent_image "$img" Image agent-aarch64 || exit 1
check_agent_info_and_uname aarch64
