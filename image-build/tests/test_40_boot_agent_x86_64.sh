#!/usr/bin/env bash
# Boot test with the REAL agent (x86_64): build the minimal image with guest-agent/scripts/build.sh's
# binary, boot it under QEMU TCG, and through the real virtio-serial channel call Info (version, arch)
# and Exec `uname -m`. Skipped, with the reason, when the agent or a gRPC client (buf) is unavailable.
. "$(dirname "$0")/lib.sh"
pick_agent x86_64
if [ "$agent_kind" != real ]; then skip "real agent: guest-agent/scripts/build.sh --arch x86_64 did not produce a binary"; exit 0; fi
buf=${KELPIE_BUF:-$repo/tools/node_modules/.bin/buf}
if [ ! -x "$buf" ]; then skip "real agent: no gRPC client ($buf; npm install @bufbuild/buf in tools/)"; exit 0; fi
out=$KELPIE_TEST_WORK/agent-x86
mkdir -p "$out"
agent_version_override=$("$agent" --version 2>/dev/null | awk '{print $2}')
img=$(build_image "$out" x86_64 minimal "$agent") || { fail "build with the real agent failed: $(tail -5 "$out.log")"; exit 1; }
as=$(stat -c %s "$img/kelpie-image-$KELPIE_TEST_VERSION-x86_64.tar.zst"); rs=$(stat -c %s "$img/rootfs.ext4")
echo "INFO real-agent image: rootfs.ext4 $rs B, archive $as B"
if [ "$as" -le $((8 * 1024 * 1024)) ] && [ "$rs" -le $((16 * 1024 * 1024)) ]; then
  pass "minimal image with the real agent: rootfs $rs B <= 16 MiB, archive $as B <= 8 MiB"
else fail "minimal image with the real agent too big: rootfs $rs B, archive $as B"; fi

boot_agent_image "$img" vmlinux agent-x86_64 || exit 1
check_agent_info_and_uname x86_64
