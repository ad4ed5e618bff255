#!/usr/bin/env bash
# Boot a built image under QEMU (TCG unless --accel says otherwise) and capture its console.
#
#   image-build/tests/boot-qemu.sh IMAGE_DIR [--kernel vmlinux|bzImage|Image] [--timeout SECONDS]
#       [--accel tcg|kvm] [--console-log FILE] [--agent-socket PATH] [--append EXTRA] [--keep-going]
#
# x86_64: qemu-system-x86_64 -M microvm; aarch64: qemu-system-aarch64 -M virt -cpu cortex-a57.
# Devices: rootfs.ext4 read-only as the first virtio-blk (vda), a sparse copy of disk-template.ext4 as
# the second (vdb), virtio-rng (always: without it early getrandom() can block for a long time), and a
# virtio-serial port named kelpie.agent backed by a Unix socket (--agent-socket, server=on,wait=off).
# The guest console is written to --console-log with a wall-clock timestamp per line (seconds since QEMU
# was started). QEMU is stopped when the guest powers off/reboots (-no-reboot) or at the timeout; with
# --keep-going the script returns right after starting QEMU and prints "PID LOG SOCKET WORKDIR"; QEMU's
# own pid is in WORKDIR/qemu.pid (the caller stops it: kill "$(cat WORKDIR/qemu.pid)").
set -euo pipefail
export LC_ALL=C
die() { echo "boot-qemu: error: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: boot-qemu.sh IMAGE_DIR [options]"
img=$(cd "$1" && pwd); shift
kernel="" timeout=120 accel=tcg log="" sock="" extra="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --console-log) log=$2; shift 2 ;;
    --agent-socket) sock=$2; shift 2 ;;
    --append) extra=$2; shift 2 ;;
    --keep-going) keep=1; shift ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -f "$img/metadata.json" ] || die "$img has no metadata.json"
arch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["arch"])' "$img/metadata.json")
cmdline=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel_cmdline"])' "$img/metadata.json")
# The test wants to see the kernel's own messages' timing less than a quiet console; keep metadata's line.
[ -n "$extra" ] && cmdline="$cmdline $extra"
work=$(mktemp -d "${TMPDIR:-/tmp}/kelpie-boot.XXXXXX")
[ -n "$log" ] || log=$work/console.log
[ -n "$sock" ] || sock=$work/agent.sock
cp --sparse=always "$img/disk-template.ext4" "$work/rw.ext4"

case "$arch" in
  x86_64)
    command -v qemu-system-x86_64 >/dev/null || die "missing qemu-system-x86_64 (install the Debian package 'qemu-system-x86')"
    [ -n "$kernel" ] || kernel=vmlinux
    # Under TCG the guest cannot calibrate its TSC (PIT calibration fails: emulated port I/O is too slow
    # for the kernel's sanity checks), and a hardware-reduced-ACPI microvm has no PIT clockevent, HPET or
    # PM timer to fall back on: with acpi=on the kernel hangs at "Marking TSC unstable". With acpi=off
    # the PIT drives the tick, virtio-mmio devices come from QEMU's automatic virtio_mmio.device=
    # command-line entries and the MP table describes the CPUs. Under KVM, kvmclock works either way.
    # reboot=t: QEMU microvm has no i8042/ACPI reset to reboot through; a triple fault ends QEMU at once
    # (-no-reboot), where the default method order first spends seconds on methods that do not exist.
    acpi=on; if [ "$accel" = tcg ]; then acpi=off; cmdline="$cmdline acpi=off reboot=t"; fi
    qemu=(qemu-system-x86_64 -M "microvm,rtc=on,acpi=$acpi" -accel "$accel" -cpu max -smp 1 -m 256) ;;
  aarch64)
    command -v qemu-system-aarch64 >/dev/null || die "missing qemu-system-aarch64 (install the Debian package 'qemu-system-arm')"
    [ -n "$kernel" ] || kernel=Image
    qemu=(qemu-system-aarch64 -M virt -accel "$accel" -cpu cortex-a57 -smp 1 -m 256) ;;
  *) die "unknown arch '$arch' in metadata.json" ;;
esac
[ -f "$img/$kernel" ] || die "no kernel file $img/$kernel"
qemu+=(-nodefaults -no-user-config -display none -no-reboot -serial stdio -monitor none -pidfile "$work/qemu.pid"
  -kernel "$img/$kernel" -append "$cmdline"
  -drive "id=root,file=$img/rootfs.ext4,format=raw,if=none,readonly=on"
  -drive "id=rw,file=$work/rw.ext4,format=raw,if=none")
# The rootfs must be the first virtio-blk device the guest probes (vda, root=/dev/vda), the writable disk
# the second (vdb). microvm probes virtio-mmio slots in creation order; -M virt (aarch64) fills its slots
# from the top down, so there the writable disk has to be created first.
if [ "$arch" = aarch64 ]; then
  qemu+=(-device virtio-blk-device,drive=rw -device virtio-blk-device,drive=root)
else
  qemu+=(-device virtio-blk-device,drive=root -device virtio-blk-device,drive=rw)
fi
qemu+=(-device virtio-rng-device
  -device virtio-serial-device
  -chardev "socket,id=agent,path=$sock,server=on,wait=off" -device virtserialport,chardev=agent,name=kelpie.agent)

start=$(date +%s.%N)
( timeout --foreground -k 5 "$timeout" "${qemu[@]}" < /dev/null 2>&1 || true ) \
  | while IFS= read -r line; do
      now=$(date +%s.%N)
      printf '%8.3f %s\n' "$(echo "$now - $start" | bc)" "${line%$'\r'}"
    done > "$log" &
pid=$!
if [ "$keep" = 1 ]; then echo "$pid $log $sock $work"; exit 0; fi
wait "$pid" || true
end=$(date +%s.%N)
printf 'boot-qemu: %s %s: QEMU ran %.2f s; console: %s\n' "$arch" "$kernel" "$(echo "$end - $start" | bc)" "$log" >&2
rm -f "$work/rw.ext4"
case "$log" in "$work"/*) ;; *) rm -rf "$work" ;; esac
