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

# built_from_same_inputs METADATA FLAVOR AGENT_SHA KERNEL_KEY RECIPE_SHA LOCK_SHA: whether an image's metadata.json
# records exactly these inputs (the build's timestamp is not an input of what the image does).
built_from_same_inputs() {
  python3 - "$@" <<'PYEOF'
import json, sys
path, flavor, agent, kernel, recipe, lock = sys.argv[1:7]
try:
    m = json.load(open(path))
except (OSError, ValueError):
    sys.exit(1)
inputs = m.get("build_inputs", {})
same = (m.get("flavor") == flavor and m.get("agent", {}).get("sha256") == agent
        and m.get("kernel", {}).get("cache_key") == kernel and inputs.get("recipe_sha256") == recipe
        and inputs.get("lock_sha256") == lock)
sys.exit(0 if same else 1)
PYEOF
}

# publish_dir NEW DEST ASIDE: puts directory NEW at DEST. An existing DEST is swapped out in one step
# (renameat2 RENAME_EXCHANGE, so readers see the old or the new image, never none) and left at ASIDE; file systems
# without the exchange get two renames.
publish_dir() {
  local new=$1 dest=$2 aside=$3
  if [ ! -e "$dest" ]; then
    mv -T "$new" "$dest"
    return
  fi
  if python3 - "$new" "$dest" <<'PYEOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = (os.fsencode(p) for p in sys.argv[1:3])
sys.exit(0 if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0 else 1)
PYEOF
  then
    mv -T "$new" "$aside"
  else
    mv -T "$dest" "$aside"
    mv -T "$new" "$dest"
  fi
}
