#!/usr/bin/env bash
# Boot test, x86_64: the image boots under QEMU TCG (-M microvm, virtio-rng) and reaches PID 1 from the
# rootfs. PID 1 here is the TEST-ONLY init (tests/fixtures/test-init.sh), which checks the devices and
# file systems the agent relies on and powers off; test_40 boots the real agent when it can be built.
. "$(dirname "$0")/lib.sh"
command -v qemu-system-x86_64 >/dev/null || { fail "qemu-system-x86_64 missing (install qemu-system-x86)"; exit 1; }
img=$KELPIE_TEST_WORK/repro-a/$KELPIE_TEST_VERSION/x86_64
if [ ! -f "$img/metadata.json" ]; then
  mkdir -p "$KELPIE_TEST_WORK/boot-x86"
  img=$(build_image "$KELPIE_TEST_WORK/boot-x86" x86_64 minimal "$tests_dir/fixtures/test-init.sh") \
    || { fail "build failed: $(tail -5 "$KELPIE_TEST_WORK/boot-x86.log")"; exit 1; }
fi

for k in vmlinux bzImage; do
  log=$KELPIE_TEST_WORK/boot-x86_64-$k.log
  "$tests_dir/boot-qemu.sh" "$img" --kernel "$k" --timeout 90 --console-log "$log" 2>/dev/null
  line=$(grep -m1 'KELPIE-TEST-INIT pid=' "$log" || true)
  if [ -z "$line" ]; then fail "$k: PID 1 never ran (console: $(tail -5 "$log" | tr '\n' '|'))"; continue; fi
  wall=$(echo "$line" | awk '{print $1}'); up=$(echo "$line" | sed -nE 's/.*uptime=([0-9.]+).*/\1/p')
  echo "INFO $k: PID 1 reached after $wall s wall clock from QEMU start; kernel boot (guest uptime at init) $up s"
  want=("pid=1 " "version=$KELPIE_TEST_VERSION " "arch=x86_64 " "KELPIE-TEST-DEV /dev/vda ok" "KELPIE-TEST-DEV /dev/vdb ok"
        "KELPIE-TEST-DEV /dev/hwrng ok" "KELPIE-TEST-DEV /dev/ptmx ok" "=kelpie.agent" "KELPIE-TEST-RNG virtio_rng"
        "KELPIE-TEST-CGROUP cpu memory pids" "KELPIE-TEST-OVERLAY ok" "KELPIE-TEST-INIT-DONE")
  missing=""
  for w in "${want[@]}"; do grep -qF -- "$w" "$log" || missing="$missing [$w]"; done
  if [ -z "$missing" ]; then
    pass "$k boots to PID 1 under TCG: version, arch, vda/vdb, virtio-rng, ptmx, virtio-serial port, cgroup2 memory+pids, ext4+overlay"
  else fail "$k: missing on console:$missing (log $log)"; fi
done
