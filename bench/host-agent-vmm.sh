#!/usr/bin/env bash
# A stand-in VMM for the daemon-overhead bench (bench/overhead.sh): the libkrun double (vm-runner's test library)
# execs this instead of qemu, with qemu's arguments. It runs the real agent binary ($KRUN_BENCH_AGENT; the VM runner passes on only KRUN_* variables) as a host
# process listening on the socket the daemon dials, so the daemon's exec path is the product's, only without an
# emulator in the way. Test-only: no product backend knows this script.
set -euo pipefail
agent_socket="" console=""
while [ $# -gt 0 ]; do
  if [ "$1" = -chardev ]; then
    case "$2" in
      socket,id=vsock*) agent_socket=$(sed -n 's/.*,path=\([^,]*\),.*/\1/p' <<<"$2") ;;
      file,id=console,*) console=${2##*,path=} ;;
    esac
    shift
  fi
  shift
done
[ -n "$agent_socket" ] || { echo "host-agent-vmm: no agent socket in the arguments" >&2; exit 2; }
dir=$(dirname "$agent_socket")/host-agent
mkdir -p "$dir/workspace"
echo "${KRUN_BENCH_IMAGE_VERSION:-0.0.0-bench}" >"$dir/kelpie-version"
exec >>"${console:-$dir/console.log}" 2>&1
exec "$KRUN_BENCH_AGENT" --listen "unix:$agent_socket" --workspace "$dir/workspace" \
  --image-version-file "$dir/kelpie-version" --generation-file "$dir/generation"
