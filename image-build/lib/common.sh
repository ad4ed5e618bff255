# Shared helpers for image-build scripts (sourced, not executed).
# shellcheck shell=bash

: "${KELPIE_LOG_PREFIX:=image-build}"
die() { echo "$KELPIE_LOG_PREFIX: error: $*" >&2; exit 1; }
log() { echo "$KELPIE_LOG_PREFIX: $*" >&2; }

# need TOOL DEBIAN-PACKAGE: fail with the package to install when a tool is missing.
need() { command -v "$1" >/dev/null 2>&1 || die "missing tool '$1' (install the Debian package '$2')"; }

# kelpie_cache_dir: root of the build caches, outside the repository.
kelpie_cache_dir() { echo "${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}"; }

# det_uuid TEXT: a deterministic RFC 4122 version-4-shaped UUID derived from TEXT.
det_uuid() {
  printf '%s' "$1" | sha256sum | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/'
}

# kelpie_arch_to_deb ARCH: x86_64 -> amd64, aarch64 -> arm64.
kelpie_arch_to_deb() {
  case "$1" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) return 1 ;; esac
}

# mke2fs_version_ok: e2fsprogs >= 1.47.1 honours SOURCE_DATE_EPOCH and reads tar input.
mke2fs_version_ok() {
  local v
  v=$(mke2fs -V 2>&1 | sed -nE 's/^mke2fs ([0-9.]+).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$(printf '%s\n1.47.1\n' "$v" | sort -V | head -1)" = 1.47.1 ]
}
