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

sock=$KELPIE_TEST_WORK/agent-x86.sock log=$KELPIE_TEST_WORK/boot-agent-x86_64.log
rm -f "$sock"
# The agent looks for /dev/virtio-ports/kelpie.agent, a link that only udev creates; until it resolves
# the port through /sys/class/virtio-ports/*/name itself, name the device node (virtio device 3 here:
# vda, vdb, rng, serial) on the command line.
read -r qpid _ _ qwork < <("$tests_dir/boot-qemu.sh" "$img" --kernel vmlinux --timeout 180 --console-log "$log" \
  --agent-socket "$sock" --append "kelpie.agent.listen=serial:/dev/vport3p1" --keep-going)
trap 'kill "$(cat "$qwork/qemu.pid" 2>/dev/null)" 2>/dev/null; wait "$qpid" 2>/dev/null; rm -rf "$qwork"' EXIT
for _ in $(seq 1 300); do grep -q "listening on serial" "$log" 2>/dev/null && break; sleep 0.2; done
listen=$(grep -m1 "listening on serial" "$log" | awk '{print $1}')
[ -n "$listen" ] || { fail "agent never listened on the serial port (console: $(tail -5 "$log" | tr '\n' '|'))"; exit 1; }
echo "INFO agent listening on the virtio-serial port $listen s after QEMU start"

call() { # METHOD JSON -> output; retries: a new connection sometimes stalls (reported to the agent owner)
  local i
  for i in 1 2 3 4; do
    if r=$(printf '%s\n' "$2" | timeout 15 "$buf" curl --schema "$repo/proto" --protocol grpc --http2-prior-knowledge \
             --unix-socket "$sock" -d @- "http://localhost/kelpie.agent.v1.Agent/$1" 2>&1); then
      echo "$r"; [ "$i" = 1 ] || echo "INFO $1 needed $i connections" >&2; return 0
    fi
  done
  echo "$r"; return 1
}
info=$(call Info '{}'); t_info=$(date +%s.%N)
if echo "$info" | grep -q "\"imageVersion\": \"$KELPIE_TEST_VERSION\"" && echo "$info" | grep -q '"arch": "x86_64"'; then
  pass "Info over virtio-serial: imageVersion $KELPIE_TEST_VERSION, arch x86_64, $(echo "$info" | grep -m1 agentVersion | tr -d ' ,')"
else fail "Info over virtio-serial: $(echo "$info" | tr -s '\n ' ' ')"; fi
ex=$(call Exec '{"start":{"argv":["uname","-m"]}}')
if echo "$ex" | grep -q '"data": "eDg2XzY0Cg=="' && echo "$ex" | grep -q '"exitCode": 0\|"exited": {}'; then
  pass "Exec uname -m over virtio-serial prints x86_64 and exits 0"
else fail "Exec uname -m over virtio-serial: $(echo "$ex" | tr -s '\n ' ' ' | cut -c1-300) (agent console: $(grep kelpie-agent "$log" | tail -2 | tr '\n' '|'))"; fi
