#!/usr/bin/env bash
# Build the Kelpie guest kernel from Debian's linux-source-6.1, once per cache key.
#
#   image-build/kernel/build-kernel.sh --arch x86_64|aarch64 [--jobs N] [--print-key]
#
# Cache: ${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}/kernel/<key>/ where <key> is the sha256 of
#   linux-source package version, the config fragments, this script, the compiler and binutils
#   package versions, and the arch. An existing cache entry is reused as is (never rebuilt); a new one
#   is built in <cache>/kernel/.tmp-<key>-<pid>/ and renamed into place atomically when complete.
# Output (last line of stdout): the cache directory, holding
#   x86_64:  vmlinux (PVH-bootable ELF, stripped), bzImage, config, kernel.release, build-info.txt
#   aarch64: Image, config, kernel.release, build-info.txt
# Everything else (build log, progress) goes to stderr / <cache>/kernel/<key>/build.log.
set -euo pipefail
export LC_ALL=C TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "build-kernel: error: $*" >&2; exit 1; }
log() { echo "build-kernel: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing tool '$1' (install the Debian package '$2')"; }

arch="" jobs=${KELPIE_KERNEL_JOBS:-$(nproc)} print_key=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs a value"; arch=$2; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; jobs=$2; shift 2 ;;
    --print-key) print_key=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case "$arch" in
  x86_64)  karch=x86_64; cross=""; cc_pkg=gcc-12; bu_pkg=binutils-x86-64-linux-gnu; targets="vmlinux bzImage" ;;
  aarch64) karch=arm64; cross=aarch64-linux-gnu-; cc_pkg=gcc-12-aarch64-linux-gnu; bu_pkg=binutils-aarch64-linux-gnu; targets="Image" ;;
  "") die "--arch is required (x86_64 or aarch64)" ;;
  *) die "unknown arch '$arch' (expected x86_64 or aarch64)" ;;
esac

src_pkg=linux-source-6.1
src_tar=/usr/src/linux-source-6.1.tar.xz
need dpkg-query dpkg
need sha256sum coreutils
need make make
need bc bc
need flex flex
need bison bison
need xz xz-utils
need zstd zstd
need "${cross}gcc" "$([ -n "$cross" ] && echo gcc-aarch64-linux-gnu || echo gcc)"
need "${cross}strip" "$([ -n "$cross" ] && echo binutils-aarch64-linux-gnu || echo binutils)"
[ -f /usr/include/libelf.h ] || [ "$arch" != x86_64 ] || die "missing libelf headers (install the Debian package 'libelf-dev')"
[ -f /usr/include/openssl/ssl.h ] || die "missing OpenSSL headers (install the Debian package 'libssl-dev')"
src_ver=$(dpkg-query -W -f='${Version}' "$src_pkg" 2>/dev/null) || true
[ -n "$src_ver" ] && [ -f "$src_tar" ] || die "missing kernel source $src_tar (install the Debian package '$src_pkg')"
cc_ver=$(dpkg-query -W -f='${Version}' "$cc_pkg" 2>/dev/null) || cc_ver=$("${cross}gcc" -dumpfullversion)
bu_ver=$(dpkg-query -W -f='${Version}' "$bu_pkg" 2>/dev/null) || bu_ver=$("${cross}ld" --version | head -1)

frags=("$here/config/common.config" "$here/config/$arch.config")
key=$( {
  echo "kelpie-kernel-cache-v1"
  echo "arch=$arch"
  echo "source=$src_pkg=$src_ver"
  echo "cc=$cc_pkg=$cc_ver"
  echo "binutils=$bu_pkg=$bu_ver"
  for f in "${frags[@]}" "$here/build-kernel.sh"; do echo "file=$(basename "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; done
} | sha256sum | cut -d' ' -f1 )
if [ "$print_key" = 1 ]; then echo "$key"; exit 0; fi

cache_root=${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}/kernel
dest=$cache_root/$key
mkdir -p "$cache_root"
if [ -f "$dest/build-info.txt" ]; then log "cache hit ($arch, key ${key:0:12})"; echo "$dest"; exit 0; fi

# One builder per key; a second caller waits and then takes the cache hit.
exec 9>"$cache_root/.lock-$key"
flock 9
if [ -f "$dest/build-info.txt" ]; then log "cache hit after wait ($arch)"; echo "$dest"; exit 0; fi

tmp=$cache_root/.tmp-$key-$$
rm -rf "$tmp"; mkdir -p "$tmp/out"
trap 'rm -rf "$tmp"' EXIT
blog=$tmp/out/build.log
log "cache miss: building $arch kernel from $src_pkg $src_ver in $tmp (log: $blog at the end in $dest)"
start=$(date +%s)

export KBUILD_BUILD_TIMESTAMP="Thu Jan  1 00:00:00 UTC 1970"
export KBUILD_BUILD_USER=kelpie KBUILD_BUILD_HOST=kelpie KBUILD_BUILD_VERSION=1
unset KCFLAGS KCPPFLAGS KAFLAGS LOCALVERSION ARCH CROSS_COMPILE || true
mk=(make -C "$tmp/linux-source-6.1" "ARCH=$karch")
[ -n "$cross" ] && mk+=("CROSS_COMPILE=$cross")

{
  tar -C "$tmp" -xf "$src_tar"
  "${mk[@]}" tinyconfig
  (cd "$tmp/linux-source-6.1" && scripts/kconfig/merge_config.sh -m .config "${frags[@]}")
  "${mk[@]}" olddefconfig
} >>"$blog" 2>&1 || { tail -30 "$blog" >&2; die "kernel configuration failed"; }

# Every option the fragments ask for must have survived olddefconfig.
cfg=$tmp/linux-source-6.1/.config
bad=0
while IFS= read -r line; do
  case "$line" in
    "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}
      if grep -q "^$opt=" "$cfg"; then log "config: wanted $opt off, got $(grep "^$opt=" "$cfg")"; bad=1; fi ;;
    CONFIG_*) grep -qxF -- "$line" "$cfg" || { log "config: wanted $line, got $(grep "^${line%%=*}=" "$cfg" || echo unset)"; bad=1; } ;;
  esac
done < <(cat "${frags[@]}")
[ "$bad" = 0 ] || die "config fragment did not apply cleanly (see above)"

log "compiling ($targets, -j$jobs); this takes 7-15 minutes on 2 cores"
"${mk[@]}" -j"$jobs" $targets >>"$blog" 2>&1 || { tail -40 "$blog" >&2; die "kernel build failed (log: $blog)"; }

k=$tmp/linux-source-6.1
cp "$k/.config" "$tmp/out/config"
"${mk[@]}" -s kernelrelease > "$tmp/out/kernel.release" 2>>"$blog"
case "$arch" in
  x86_64)
    cp "$k/arch/x86/boot/bzImage" "$tmp/out/bzImage"
    "${cross}strip" -o "$tmp/out/vmlinux" "$k/vmlinux" ;;
  aarch64)
    cp "$k/arch/arm64/boot/Image" "$tmp/out/Image" ;;
esac
end=$(date +%s)
{
  echo "arch=$arch"
  echo "key=$key"
  echo "source=$src_pkg=$src_ver"
  echo "cc=$cc_pkg=$cc_ver"
  echo "binutils=$bu_pkg=$bu_ver"
  echo "kernel_release=$(cat "$tmp/out/kernel.release")"
  echo "config_sha256=$(sha256sum < "$tmp/out/config" | cut -d' ' -f1)"
  echo "kbuild_build_timestamp=$KBUILD_BUILD_TIMESTAMP"
  echo "build_seconds=$((end - start))"
} > "$tmp/out/build-info.txt.part"
(cd "$tmp/out" && for f in *; do [ -f "$f" ] && chmod 0444 "$f"; done)

rm -rf "$dest"   # only a partial, unmarked leftover can be here (we hold the lock)
mv "$tmp/out/build-info.txt.part" "$tmp/out/build-info.txt"
mv -T "$tmp/out" "$dest"
log "built $arch kernel $(cat "$dest/kernel.release") in $((end - start)) s"
echo "$dest"
