#!/usr/bin/env bash
# Assemble the read-only root file system and the empty writable-disk template, reproducibly.
#
#   image-build/rootfs/build-rootfs.sh --arch x86_64|aarch64 --flavor minimal|standard \
#       --agent PATH --version VERSION --out DIR
#
# Needs SOURCE_DATE_EPOCH in the environment (build.sh sets it). Writes into DIR (which must exist):
#   rootfs.ext4          read-only root (ext4, no journal), sized to its content
#   disk-template.ext4   empty sparse ext4 for the per-sandbox writable disk (overlay upper + /workspace)
#   packages.tsv         package, version, Debian arch, .deb sha256 of everything extracted
#   rootfs-info.txt      key=value facts for metadata.json (UUIDs, sizes, inode counts, tool versions)
# Packages are extracted only (dpkg-deb --fsys-tarfile | tar -x, no maintainer scripts); what the
# maintainer scripts would have made (busybox applet links, the CA bundle, passwd/group, ...) is created
# here. Must run as root (file ownership in the image comes from the extracted tree).
set -euo pipefail
export LC_ALL=C TZ=UTC
umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KELPIE_LOG_PREFIX=build-rootfs
# shellcheck source=../lib/common.sh
. "$here/../lib/common.sh"

arch="" flavor="" agent="" version="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --flavor) flavor=$2; shift 2 ;;
    --agent) agent=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
debarch=$(kelpie_arch_to_deb "$arch") || die "unknown arch '$arch' (expected x86_64 or aarch64)"
lock=$here/../packages/$flavor.lock
[ -n "$flavor" ] && [ -f "$lock" ] || die "unknown flavor '$flavor' (no $lock)"
[ -f "$agent" ] || die "agent binary not found: '$agent'"
[ -n "$version" ] || die "--version is required"
[ -d "$out" ] || die "output directory does not exist: '$out'"
[ -n "${SOURCE_DATE_EPOCH:-}" ] || die "SOURCE_DATE_EPOCH must be set"
[ "$(id -u)" = 0 ] || die "must run as root (the image's file ownership comes from the extracted tree)"
need mke2fs "e2fsprogs/bookworm-backports"
mke2fs_version_ok || die "mke2fs $(mke2fs -V 2>&1 | head -1) is too old: need >= 1.47.1 for SOURCE_DATE_EPOCH (install 'e2fsprogs/bookworm-backports')"
need e2fsck "e2fsprogs/bookworm-backports"
need openssl openssl
need tar tar
need dpkg-deb dpkg

work=$(mktemp -d "${TMPDIR:-/tmp}/kelpie-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"

# --- 1. packages ----------------------------------------------------------------------------------
debs=$("$here/fetch-debs.sh" --lock "$lock" --deb-arch "$debarch" | tail -1)
# merged /usr, as Debian 12 installs it
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib"
ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"
if [ "$debarch" = amd64 ]; then mkdir -p "$root/usr/lib64"; ln -s usr/lib64 "$root/lib64"; fi
: > "$work/packages.tsv"
while IFS=$'\t' read -r name ver file; do
  dpkg-deb --fsys-tarfile "$debs/$file" | tar -x -C "$root" --keep-directory-symlink --numeric-owner -p -f -
  printf '%s\t%s\t%s\t%s\n' "$name" "$ver" "$debarch" "$(sha256sum < "$debs/$file" | cut -d' ' -f1)" >> "$work/packages.tsv"
done < "$debs/order.tsv"

# Docs, manuals and translations are not needed in a sandbox; keep the copyright files.
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" "$root/usr/share/lintian" \
       "$root/usr/share/initramfs-tools" "$root/usr/share/bug"

# --- 2. what maintainer scripts would have done --------------------------------------------------
# busybox applet links (never replacing a file a package shipped). The list comes from the busybox of
# the BUILD host's architecture at the same pinned version (same Debian config, same applets), so
# cross builds need no emulation.
hostdeb=$(dpkg --print-architecture)
bbver=$(awk -v a="$hostdeb" '$1==a && $2 ~ /^busybox-static=/ {print $2}' "$lock")
[ -n "$bbver" ] || die "$lock pins no busybox-static for the host arch $hostdeb"
bbdebs=$("$here/fetch-debs.sh" --lock "$lock" --deb-arch "$hostdeb" --only busybox-static | tail -1)
mkdir -p "$work/hostbb"
dpkg-deb --fsys-tarfile "$bbdebs/$(cut -f3 "$bbdebs/order.tsv")" | tar -x -C "$work/hostbb" ./bin/busybox
"$work/hostbb/bin/busybox" --list-full | sort > "$work/applets"
[ -s "$work/applets" ] || die "could not list busybox applets"
while read -r a; do
  case "$a" in */*) ;; *) continue ;; esac
  [ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done < "$work/applets"

# CA certificates: /etc/ca-certificates.conf, per-cert links, OpenSSL hash links and the PEM bundle,
# as update-ca-certificates would create them.
certs=$root/etc/ssl/certs
mkdir -p "$certs"
if [ -d "$root/usr/share/ca-certificates" ]; then
  ( cd "$root/usr/share/ca-certificates" && find . -name '*.crt' -printf '%P\n' | sort ) > "$work/certs"
  {
    echo "# Generated by Kelpie's image build (what ca-certificates' postinst would write)."
    cat "$work/certs"
  } > "$root/etc/ca-certificates.conf"
  : > "$certs/ca-certificates.crt"
  while read -r c; do
    pem=$(basename "$c" .crt).pem
    ln -s "/usr/share/ca-certificates/$c" "$certs/$pem"
    sed -e '$a\' "$root/usr/share/ca-certificates/$c" >> "$certs/ca-certificates.crt"
    h=$(openssl x509 -hash -noout -in "$root/usr/share/ca-certificates/$c")
    n=0; while [ -e "$certs/$h.$n" ] || [ -L "$certs/$h.$n" ]; do n=$((n + 1)); done
    ln -s "$pem" "$certs/$h.$n"
  done < "$work/certs"
  ln -s ca-certificates.crt "$certs/ca-bundle.crt"
fi

# Users, groups and the small /etc a process runner expects.
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
kelpie:x:1000:1000:Kelpie sandbox user:/workspace:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
shadow:x:42:
users:x:100:
kelpie:x:1000:
nogroup:x:65534:
EOF
cat > "$root/etc/shadow" <<'EOF'
root:*:0:0:99999:7:::
daemon:*:0:0:99999:7:::
bin:*:0:0:99999:7:::
sys:*:0:0:99999:7:::
kelpie:*:0:0:99999:7:::
nobody:*:0:0:99999:7:::
EOF
chmod 0640 "$root/etc/shadow"; chgrp 42 "$root/etc/shadow"
cat > "$root/etc/nsswitch.conf" <<'EOF'
passwd:    files
group:     files
shadow:    files
hosts:     files dns
networks:  files
protocols: files
services:  files
EOF
echo kelpie > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tkelpie\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
ln -sfn ../proc/self/mounts "$root/etc/mtab"
cat > "$root/etc/profile" <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
if [ ! -e "$root/etc/os-release" ] && [ ! -L "$root/etc/os-release" ]; then
  printf 'PRETTY_NAME="Kelpie guest %s (Debian 12 packages)"\nNAME="Kelpie guest"\nID=kelpie\nID_LIKE=debian\nVERSION_ID=%s\n' \
    "$version" "$version" > "$root/etc/os-release"
fi
printf '%s\n' "$version" > "$root/etc/kelpie-version"

# Mount points and scratch directories. /workspace and the overlay upper come from the writable disk.
for d in proc sys dev run tmp root home mnt workspace var/tmp var/log var/cache; do mkdir -p "$root/$d"; done
chmod 1777 "$root/tmp" "$root/var/tmp"; chmod 0700 "$root/root"

# The agent is PID 1 (kernel command line init=/sbin/kelpie-agent).
install -m 0755 "$agent" "$root/usr/sbin/kelpie-agent"

# --- 3. ext4 images ---------------------------------------------------------------------------------
# A sorted tar with clamped times is the single, host-independent description of the tree.
tar -C "$root" --sort=name --format=gnu --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
    -cf "$work/rootfs.tar" .
entries=$(find "$root" | wc -l)
# Size from apparent sizes (not the host file system's block usage), so it is the same on every host.
data_kib=$(find "$root" -type f -printf '%s\n' | awk '{k += int(($1 + 4095) / 4096) * 4} END {print k + 0}')
dirs=$(find "$root" -type d | wc -l)
inodes=$(( (entries + 256) / 64 * 64 + 64 ))
size_mib=$(( (data_kib + dirs * 4 + inodes / 16 + 4096) * 115 / 100 / 1024 + 1 ))
root_uuid=$(det_uuid "kelpie-rootfs/$version/$arch/$flavor")
root_seed=$(det_uuid "kelpie-rootfs-hash-seed/$version/$arch/$flavor")
export MKE2FS_CONFIG=$here/mke2fs.conf E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
rm -f "$out/rootfs.ext4"
mke2fs -q -F -t ext4 -T kelpie -b 4096 -I 256 -N "$inodes" -m 0 \
  -O ^has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize \
  -U "$root_uuid" -E hash_seed="$root_seed",root_owner=0:0 -L kelpie-root \
  -d "$work/rootfs.tar" "$out/rootfs.ext4" "${size_mib}M" >&2
e2fsck -fn "$out/rootfs.ext4" >/dev/null 2>&1 || die "e2fsck found problems in rootfs.ext4"

tmpl_uuid=$(det_uuid "kelpie-disk-template/$version/$arch/$flavor")
tmpl_seed=$(det_uuid "kelpie-disk-template-hash-seed/$version/$arch/$flavor")
tmpl_mib=${KELPIE_DISK_TEMPLATE_MIB:-1024}
rm -f "$out/disk-template.ext4"
mke2fs -q -F -t ext4 -T kelpie -b 4096 -I 256 -m 0 \
  -O has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize \
  -U "$tmpl_uuid" -E hash_seed="$tmpl_seed",root_owner=0:0,lazy_itable_init=0,lazy_journal_init=1 \
  -L kelpie-rw "$work/disk-template.ext4" "${tmpl_mib}M" >&2
e2fsck -fn "$work/disk-template.ext4" >/dev/null 2>&1 || die "e2fsck found problems in disk-template.ext4"
# lazy_itable_init=0 zeroes the inode tables (and flags them zeroed, so the guest kernel never writes
# 16 MiB of zeros into each sandbox's disk); mke2fs leaves them as allocated extents, so copy the file
# sparsely to turn every all-zero block back into a hole.
cp --sparse=always "$work/disk-template.ext4" "$out/disk-template.ext4"

mv "$work/packages.tsv" "$out/packages.tsv"
{
  echo "rootfs_uuid=$root_uuid"
  echo "rootfs_label=kelpie-root"
  echo "rootfs_size_mib=$size_mib"
  echo "rootfs_inodes=$inodes"
  echo "rootfs_entries=$entries"
  echo "disk_template_uuid=$tmpl_uuid"
  echo "disk_template_label=kelpie-rw"
  echo "disk_template_size_mib=$tmpl_mib"
  echo "mke2fs_version=$(mke2fs -V 2>&1 | head -1)"
  echo "busybox_applets=$(grep -c / "$work/applets")"
  echo "ca_certificates=$(wc -l < "${work}/certs" 2>/dev/null || echo 0)"
} > "$out/rootfs-info.txt"
log "rootfs.ext4 ${size_mib} MiB ($entries entries), disk-template.ext4 ${tmpl_mib} MiB sparse"
