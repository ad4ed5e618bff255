#!/usr/bin/env bash
# Download the .debs a lock file pins for one Debian architecture into a cache outside the repository.
#
#   image-build/rootfs/fetch-debs.sh --lock FILE --deb-arch amd64|arm64 [--only PKG]...
#
# Cache: ${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}/debs/<deb-arch>/<key>/ where <key> is the sha256 of the
# selected lock lines. Files are fetched with `apt-get download pkg=version` (apt checks them against the
# signed archive index), then checked against the sha256 in the lock, and the directory is renamed into
# place atomically. Prints the cache directory as the last stdout line; it holds one .deb per lock line
# and `order.tsv` (package, version, file) in lock order.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KELPIE_LOG_PREFIX=fetch-debs
# shellcheck source=../lib/common.sh
. "$here/../lib/common.sh"

lock="" debarch="" only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lock) lock=$2; shift 2 ;;
    --deb-arch) debarch=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -f "$lock" ] || die "lock file not found: '$lock'"
case "$debarch" in amd64|arm64) ;; *) die "unknown Debian arch '$debarch'" ;; esac
need apt-get apt
need dpkg-deb dpkg

lines=$(grep -E "^$debarch " "$lock" | sort -k2,2 || true)
if [ ${#only[@]} -gt 0 ]; then
  lines=$(printf '%s\n' "$lines" | awk -v want="$(printf '%s ' "${only[@]}")" \
    'BEGIN{n=split(want,w," "); for(i=1;i<=n;i++) keep[w[i]]=1} {split($2,a,"="); if (a[1] in keep) print}')
fi
[ -n "$lines" ] || die "no '$debarch' packages selected from $lock"
key=$(printf '%s\n' "$lines" | sha256sum | cut -d' ' -f1)
root=$(kelpie_cache_dir)/debs/$debarch
dest=$root/$key
if [ -f "$dest/order.tsv" ]; then echo "$dest"; exit 0; fi

mkdir -p "$root"
tmp=$(mktemp -d "$root/.tmp-$key-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"   # apt's _apt sandbox user must be able to write here
specs=$(printf '%s\n' "$lines" | awk '{print $2}')
log "downloading $(printf '%s\n' "$specs" | wc -l) $debarch packages into $dest"
# shellcheck disable=SC2086
(cd "$tmp" && apt-get -q -o APT::Sandbox::User=root -o APT::Architecture="$debarch" -o APT::Architectures::="$debarch" download $specs) >&2 \
  || die "apt-get download failed. A pinned version may have left the mirror (Debian replaces packages at point releases): run image-build/rootfs/update-lock.sh and review the lock diff"

# Match every lock line to a downloaded file by sha256.
declare -A by_sha=()
for f in "$tmp"/*.deb; do by_sha[$(sha256sum < "$f" | cut -d' ' -f1)]=$(basename "$f"); done
: > "$tmp/order.tsv.part"
while read -r _ spec sha; do
  sha=${sha#sha256:}
  f=${by_sha[$sha]:-}
  [ -n "$f" ] || die "no downloaded file matches $debarch $spec sha256:$sha (the mirror's package differs from the lock)"
  printf '%s\t%s\t%s\n' "${spec%%=*}" "${spec#*=}" "$f" >> "$tmp/order.tsv.part"
done <<< "$lines"
mv "$tmp/order.tsv.part" "$tmp/order.tsv"
chmod 0755 "$tmp"
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  [ -f "$dest/order.tsv" ] || die "could not move $tmp to $dest"   # lost a race with an identical fetch
fi
trap - EXIT; rm -rf "$tmp"
echo "$dest"
