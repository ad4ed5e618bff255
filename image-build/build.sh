#!/usr/bin/env bash
# Build one Kelpie base image: kernel + rootfs + disk template + metadata, archived, summed and signed.
#
#   image-build/build.sh --arch x86_64|aarch64 --version X.Y.Z[-suffix] --agent PATH
#                        [--flavor minimal|standard] [--out DIR] [--force | --reuse-unchanged]
#                        [--agent-version V] [--agent-protocol N] [--sign-key FILE]
#
#   --version   must match image-build/version.regex (the regex the daemon uses too); release form
#               MAJOR.MINOR.PATCH-YYYYMMDD-gitsha7, e.g. 1.0.0-20260115-a3f4d21
#   --agent     the kelpie-agent binary for --arch (installed as /sbin/kelpie-agent, the guest's PID 1);
#               normally the last stdout line of guest-agent/scripts/build.sh --arch ARCH
#   --agent-version/--agent-protocol  recorded in metadata.json; default: read from PATH.version
#               (lines agent_version=..., protocol_version=...) if it exists, else from `PATH --version`
#               when PATH is an ELF for this host's machine, else "unknown"
#   --out       default image-build/out; the image lands in OUT/VERSION/ARCH/
#   --force     replace an existing OUT/VERSION/ARCH/
#   --reuse-unchanged  keep an existing, intact OUT/VERSION/ARCH/ built from the same agent, kernel, recipe and
#               lock (printing it as if built); replace it when any of them changed. For a dev image rebuilt at
#               every start.
#   --sign-key  minisign secret key (or env KELPIE_SIGN_KEY; password, if any, in KELPIE_SIGN_PASSWORD).
#               Without one, a throwaway key is generated and the build says so.
# Environment: SOURCE_DATE_EPOCH (default: the YYYYMMDD date in --version, else the git HEAD commit time),
#   KELPIE_CACHE_DIR (default ~/.cache/kelpie: kernel and .deb caches).
# Output, all byte-for-byte reproducible from the same inputs and SOURCE_DATE_EPOCH:
#   vmlinux bzImage (x86_64) | Image (aarch64), rootfs.ext4, disk-template.ext4, metadata.json,
#   kelpie-image-VERSION-ARCH.tar.zst (all of the former), SHA256SUMS, SHA256SUMS.minisig, minisign.pub
# The last stdout line is the image directory. Nothing is written to OUT unless the build succeeds.
set -euo pipefail
export LC_ALL=C TZ=UTC
umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KELPIE_LOG_PREFIX=build.sh
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
arch="" version="" flavor=minimal agent="" out="$here/out" force=0 reuse=0
agent_version="" agent_protocol="" sign_key=${KELPIE_SIGN_KEY:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --arch|--version|--flavor|--agent|--out|--agent-version|--agent-protocol|--sign-key)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --arch) arch=$2 ;; --version) version=$2 ;; --flavor) flavor=$2 ;; --agent) agent=$2 ;;
        --out) out=$2 ;; --agent-version) agent_version=$2 ;; --agent-protocol) agent_protocol=$2 ;;
        --sign-key) sign_key=$2 ;;
      esac
      shift 2 ;;
    --force) force=1; shift ;;
    --reuse-unchanged) reuse=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# --- validate every input before touching anything -----------------------------------------------
version_re=$(head -1 "$here/version.regex")
[ -n "$version" ] || die "--version is required (MAJOR.MINOR.PATCH[-suffix], e.g. 1.0.0-20260115-a3f4d21)"
[[ "$version" =~ $version_re ]] || die "invalid version '$version': must match $version_re (e.g. 1.0.0-20260115-a3f4d21 or 1.0.0-dev)"
case "$arch" in
  x86_64) kernel_files="vmlinux bzImage"; console=ttyS0 ;;
  aarch64) kernel_files="Image"; console=ttyAMA0 ;;
  "") die "--arch is required (x86_64 or aarch64)" ;;
  *) die "unknown arch '$arch' (expected x86_64 or aarch64)" ;;
esac
case "$flavor" in
  minimal|standard) [ -f "$here/packages/$flavor.lock" ] || die "missing lock file packages/$flavor.lock" ;;
  *) die "unknown flavor '$flavor' (expected minimal or standard)" ;;
esac
[ -n "$agent" ] || die "--agent PATH is required (build it with guest-agent/scripts/build.sh --arch $arch)"
[ -f "$agent" ] || die "agent binary not found: '$agent'"
[ -s "$agent" ] || die "agent binary is empty: '$agent'"
if [ -n "$sign_key" ] && [ ! -f "$sign_key" ]; then die "signing key not found: '$sign_key'"; fi
[[ -z "$agent_protocol" || "$agent_protocol" =~ ^[0-9]+$ ]] || die "--agent-protocol must be a number"
[ "$(id -u)" = 0 ] || die "must run as root (the rootfs is assembled from an extracted tree with root ownership)"

for t in "sha256sum coreutils" "tar tar" "zstd zstd" "minisign minisign" "python3 python3" "openssl openssl" \
         "apt-get apt" "dpkg-deb dpkg" "make make" "bc bc" "flex flex" "bison bison" \
         "xz xz-utils"; do
  need ${t% *} "${t#* }"
done
need mke2fs "e2fsprogs/bookworm-backports"
mke2fs_version_ok || die "$(mke2fs -V 2>&1 | head -1) is too old: need >= 1.47.1 (install 'e2fsprogs/bookworm-backports': apt-get install -t bookworm-backports e2fsprogs)"
if [ "$arch" = aarch64 ]; then need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu; else need gcc gcc; fi
[ "$arch" = x86_64 ] && { [ -f /usr/include/libelf.h ] || die "missing libelf headers (install the Debian package 'libelf-dev')"; }
[ -f /usr/include/openssl/ssl.h ] || die "missing OpenSSL headers (install the Debian package 'libssl-dev')"
[ -f /usr/src/linux-source-6.1.tar.xz ] || die "missing kernel source (install the Debian package 'linux-source-6.1')"
debarch=$(kelpie_arch_to_deb "$arch")
if [ "$debarch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$debarch"; then
  die "Debian architecture $debarch is not configured: dpkg --add-architecture $debarch && apt-get update"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  if [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+-([0-9]{8})(-|$) ]]; then
    SOURCE_DATE_EPOCH=$(date -u -d "${BASH_REMATCH[1]}" +%s) || die "bad date in version '$version'"
  elif SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null) && [ -n "$SOURCE_DATE_EPOCH" ]; then :
  else die "set SOURCE_DATE_EPOCH (no YYYYMMDD date in the version and no git commit to take it from)"; fi
fi
[[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be an integer, got '$SOURCE_DATE_EPOCH'"
export SOURCE_DATE_EPOCH

if [ -z "$agent_version$agent_protocol" ] && [ -f "$agent.version" ]; then
  agent_version=$(sed -n 's/^agent_version=//p' "$agent.version" | head -1)
  agent_protocol=$(sed -n 's/^protocol_version=//p' "$agent.version" | head -1)
fi
# Else ask the agent itself ("kelpie-agent 0.1.0 [protocol 1]"), but only a static ELF for this host's
# machine: e_machine 0x3e (x86_64) / 0xb7 (aarch64). --version returns before any PID 1 duties.
if [ -z "$agent_version" ] && [ "$(head -c 4 "$agent" | od -An -c | tr -d ' ')" = '177ELF' ]; then
  emach=$(od -An -tx1 -j18 -N2 "$agent" | tr -d ' \n')
  case "$(uname -m)/$emach" in
    x86_64/3e00|aarch64/b700)
      vline=$(timeout 5 "$agent" --version 2>/dev/null </dev/null | head -1 || true)
      [[ "$vline" =~ ^kelpie-agent\ ([0-9A-Za-z.+-]+) ]] && agent_version=${BASH_REMATCH[1]}
      [[ -z "$agent_protocol" && "$vline" =~ protocol[\ =]([0-9]+) ]] && agent_protocol=${BASH_REMATCH[1]} ;;
  esac
fi
: "${agent_version:=unknown}" "${agent_protocol:=unknown}"
[[ "$agent_version" =~ ^[0-9A-Za-z.+~-]{1,64}$ ]] || die "agent version '$agent_version' is not a plain version string"
[ "$agent_version" != unknown ] || log "warning: agent version unknown (pass --agent-version/--agent-protocol or provide $agent.version)"

recipe_sha=$(cd "$here" && find build.sh version.regex lib kernel rootfs packages -type f | sort \
             | xargs sha256sum | sha256sum | cut -d' ' -f1)
lock_sha=$(sha256sum < "$here/packages/$flavor.lock" | cut -d' ' -f1)
agent_sha=$(sha256sum < "$agent" | cut -d' ' -f1)

dest=$out/$version/$arch
if [ "$reuse" = 1 ] && [ -f "$dest/metadata.json" ]; then
  kernel_key=$("$here/kernel/build-kernel.sh" --arch "$arch" --print-key)
  if built_from_same_inputs "$dest/metadata.json" "$flavor" "$agent_sha" "$kernel_key" "$recipe_sha" "$lock_sha" \
     && (cd "$dest" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1); then
    log "$dest is intact and built from the same agent, kernel, recipe and lock: reused"
    echo "$dest"
    exit 0
  fi
  log "$dest was built from other inputs (or is damaged): replacing it"
elif [ -e "$dest" ] && [ "$force" != 1 ]; then
  die "$dest already exists (use --force to replace it, or --reuse-unchanged)"
fi

# --- build in a temporary directory inside OUT, publish with a rename -------------------------------
created_out=0; [ -d "$out" ] || created_out=1
mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp-build-XXXXXX")
cleanup() { rm -rf "$tmp"; if [ "$created_out" = 1 ]; then rmdir "$out" 2>/dev/null || true; fi; }
trap cleanup EXIT
img=$tmp/image; mkdir -p "$img" "$tmp/rootfs"
t0=$(date +%s)

log "kernel ($arch): cached build or cache miss (7-15 min on 2 cores)"
kdir=$("$here/kernel/build-kernel.sh" --arch "$arch" | tail -1)
[ -f "$kdir/build-info.txt" ] || die "kernel build did not produce $kdir/build-info.txt"
for f in $kernel_files; do cp "$kdir/$f" "$img/$f"; chmod 0644 "$img/$f"; done

# Test hook (tests/test_10_bad_inputs.sh): fail after a stage to prove nothing half-written is left.
[ "${KELPIE_BUILD_TEST_FAIL_AFTER:-}" = kernel ] && die "test hook: failing after the kernel stage"

log "rootfs ($arch, $flavor)"
"$here/rootfs/build-rootfs.sh" --arch "$arch" --flavor "$flavor" --agent "$agent" --version "$version" --out "$tmp/rootfs"
mv "$tmp/rootfs/rootfs.ext4" "$tmp/rootfs/disk-template.ext4" "$img/"

[ "${KELPIE_BUILD_TEST_FAIL_AFTER:-}" = rootfs ] && die "test hook: failing after the rootfs stage"

cmdline_base="root=/dev/vda ro rootfstype=ext4 init=/sbin/kelpie-agent panic=-1 quiet"
python3 - "$img" "$kdir/build-info.txt" "$tmp/rootfs/packages.tsv" "$tmp/rootfs/rootfs-info.txt" <<PYEOF
import hashlib, json, os, sys
img, kinfo, pkgs, rinfo = sys.argv[1:5]
def kv(path):
    d = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            d[k] = v
    return d
def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
k, r = kv(kinfo), kv(rinfo)
files = [{"name": n, "size": os.path.getsize(os.path.join(img, n)), "sha256": digest(os.path.join(img, n))}
         for n in sorted(os.listdir(img))]
packages = []
for line in open(pkgs):
    name, ver, arch, sha = line.rstrip("\n").split("\t")
    packages.append({"name": name, "version": ver, "arch": arch, "sha256": sha})
meta = {
    "schema_version": 1,
    "version": "$version",
    "arch": "$arch",
    "flavor": "$flavor",
    "kernel": {
        "release": k["kernel_release"],
        "config_sha256": k["config_sha256"],
        "files": "$kernel_files".split(),
        "source_package": k["source"],
        "compiler": k["cc"],
        "binutils": k["binutils"],
        "cache_key": k["key"],
    },
    "kernel_cmdline": "console=$console $cmdline_base",
    "kernel_cmdline_base": "$cmdline_base",
    "serial_console": "$console",
    "agent": {
        "path": "/sbin/kelpie-agent",
        "version": "$agent_version",
        "protocol_version": int("$agent_protocol") if "$agent_protocol".isdigit() else "$agent_protocol",
        "sha256": "$agent_sha",
        "size": $(stat -c %s "$agent"),
    },
    "rootfs": {"file": "rootfs.ext4", "fs": "ext4", "read_only": True, "uuid": r["rootfs_uuid"],
               "label": r["rootfs_label"], "size_mib": int(r["rootfs_size_mib"]), "inodes": int(r["rootfs_inodes"])},
    "disk_template": {"file": "disk-template.ext4", "fs": "ext4", "sparse": True, "uuid": r["disk_template_uuid"],
                      "label": r["disk_template_label"], "size_mib": int(r["disk_template_size_mib"]),
                      "guest_device": "/dev/vdb", "use": "overlay upper layer and /workspace"},
    "packages": packages,
    "files": files,
    "build_inputs": {
        "source_date_epoch": int("$SOURCE_DATE_EPOCH"),
        "recipe_sha256": "$recipe_sha",
        "lock_file": "packages/$flavor.lock",
        "lock_sha256": "$lock_sha",
        "mke2fs": r["mke2fs_version"],
        "tar": "$(tar --version | head -1)",
        "zstd": "$(zstd --version | sed -nE 's/.*(v[0-9.]+).*/\1/p')",
        "archive_compression": "zstd -19 -T2",
    },
}
with open(os.path.join(img, "metadata.json"), "w") as f:
    json.dump(meta, f, indent=2, sort_keys=True)
    f.write("\n")
PYEOF

archive=kelpie-image-$version-$arch.tar.zst
members=$(cd "$img" && ls | sort)
# shellcheck disable=SC2086
tar -C "$img" --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX \
    --mtime="@$SOURCE_DATE_EPOCH" -cf - $members | zstd -q -19 -T2 -o "$tmp/$archive"
mv "$tmp/$archive" "$img/$archive"
(cd "$img" && ls | sort | xargs sha256sum) > "$tmp/SHA256SUMS"
mv "$tmp/SHA256SUMS" "$img/SHA256SUMS"

if [ -z "$sign_key" ]; then
  log "warning: no --sign-key / KELPIE_SIGN_KEY: signing with a throwaway key (not for release)"
  minisign -G -W -p "$tmp/throwaway.pub" -s "$tmp/throwaway.key" >/dev/null
  sign_key=$tmp/throwaway.key
fi
minisign -R -s "$sign_key" -p "$img/minisign.pub" >/dev/null </dev/null
sign_in=/dev/null; [ -n "${KELPIE_SIGN_PASSWORD:-}" ] && sign_in=<(printf '%s\n' "$KELPIE_SIGN_PASSWORD")
minisign -S -s "$sign_key" -m "$img/SHA256SUMS" -x "$img/SHA256SUMS.minisig" \
  -c "kelpie image signature" -t "kelpie-image $version $arch $flavor" < "$sign_in" >/dev/null \
  || die "signing failed"
minisign -V -q -p "$img/minisign.pub" -m "$img/SHA256SUMS" -x "$img/SHA256SUMS.minisig" || die "signature does not verify"
(cd "$img" && for f in *; do touch -h -d "@$SOURCE_DATE_EPOCH" "$f"; done)

# --- publish -----------------------------------------------------------------------------------------
mkdir -p "$out/$version"
publish_dir "$img" "$dest" "$tmp/old"
created_out=0
log "done in $(( $(date +%s) - t0 )) s: $dest"
log "  rootfs.ext4 $(stat -c %s "$dest/rootfs.ext4") B, $archive $(stat -c %s "$dest/$archive") B"
echo "$dest"
