# Shared by build.sh and test.sh: Debian's toolchain only, never rustup's.
set -euo pipefail
AGENT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RUSTC=/usr/bin/rustc
export CARGO=/usr/bin/cargo
export CARGO_TARGET_DIR="$AGENT_DIR/target"
export CARGO_NET_OFFLINE=true
# rustup's proxies must not be picked up by build scripts or cargo subcommands.
export PATH="/usr/bin:/bin:/usr/sbin:/sbin"
unset RUSTUP_TOOLCHAIN RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET 2>/dev/null || true

need() { # need TOOL PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        echo "error: $1 not found; install the Debian package '$2' (see guest-agent/packages.txt)" >&2
        exit 1
    fi
}
need /usr/bin/rustc rustc
need /usr/bin/cargo cargo
need protoc protobuf-compiler
if [ ! -d /usr/share/cargo/registry/h2-0.3.13 ] && ! ls -d /usr/share/cargo/registry/h2-0.3.* >/dev/null 2>&1; then
    echo "error: Debian crate sources missing in /usr/share/cargo/registry; install the librust-*-dev packages in guest-agent/packages.txt" >&2
    exit 1
fi
cd "$AGENT_DIR"
