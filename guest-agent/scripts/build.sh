#!/usr/bin/env bash
# Builds the static, stripped release binary of kelpie-agent and prints its path last.
# usage: scripts/build.sh [--arch x86_64|aarch64]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

arch="$(uname -m)"
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="${2:?--arch needs x86_64 or aarch64}"; shift 2 ;;
        --arch=*) arch="${1#--arch=}"; shift ;;
        *) echo "usage: $0 [--arch x86_64|aarch64]" >&2; exit 2 ;;
    esac
done
case "$arch" in
    x86_64|amd64) target=x86_64-unknown-linux-gnu ;;
    aarch64|arm64)
        target=aarch64-unknown-linux-gnu
        need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
        if [ ! -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ]; then
            echo "error: no aarch64 Rust standard library; install 'libstd-rust-dev:arm64' (after dpkg --add-architecture arm64)" >&2
            exit 1
        fi
        if [ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then
            echo "error: no aarch64 static libc; install 'libc6-dev-arm64-cross'" >&2
            exit 1
        fi
        ;;
    *) echo "error: unsupported arch $arch" >&2; exit 2 ;;
esac

# crt-static only with an explicit --target, so build scripts and proc-macros stay dynamic.
flags=(-C target-feature=+crt-static)
# The binary must not depend on where the checkout is (images are compared across machines): rustc writes the
# paths of source files into panic locations, so every build path is mapped to a fixed one. The last matching
# prefix wins, hence the target directory (OUT_DIR, with the code generated from ../proto) after the checkout
# that may hold it. Debian's crate registry is the same path everywhere, mapped for a binary without host paths.
# cargo keeps --remap-path-prefix out of its -C metadata hash, so symbol hashes do not depend on the paths either.
repo_dir=$(cd "$AGENT_DIR/.." && pwd)
flags+=("--remap-path-prefix=$repo_dir=/kelpie"
        "--remap-path-prefix=$CARGO_TARGET_DIR=/kelpie/guest-agent/target"
        "--remap-path-prefix=/usr/share/cargo/registry=/cargo/registry")
# CARGO_ENCODED_RUSTFLAGS (arguments separated by 0x1f): a checkout path with spaces stays one argument.
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${flags[*]}") "$CARGO" build --release --locked --target "$target" >&2
binary="$CARGO_TARGET_DIR/$target/release/kelpie-agent"
[ -x "$binary" ] || { echo "error: $binary was not produced" >&2; exit 1; }
echo "$binary"
