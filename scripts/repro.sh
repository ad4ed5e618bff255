#!/usr/bin/env bash
# Reproducibility across checkouts: clones this repository's HEAD commit into two directories whose paths differ (in
# length too), builds the same release files in each and compares them byte for byte. A build that records where it
# ran (an absolute path, a user, a time) passes a rebuild in one checkout but fails here.
#
#   scripts/repro.sh [--arch x86_64|aarch64]... [--rebuild-kernels] [--java] [--no-images] [--version V] [--work DIR]
#
#   --arch ARCH        build the agent and the minimal image for ARCH (repeatable; default: this host's)
#   --rebuild-kernels  clone B builds its kernels from source in a scratch cache (WORK/cache-b) instead of taking
#                      clone A's from ${KELPIE_CACHE_DIR:-~/.cache/kelpie}: 15-30 min per arch on 2 cores
#   --java             also the daemon's release tarball: ./mvnw package (no tests), then scripts/pack-release.sh
#   --no-images        neither agent nor image (with --java: the tarball only)
#   --version V        version of the images and the tarball (default: a v* tag at HEAD, else 0.0.0-repro)
#   --work DIR         scratch directory (default: a new one under ${TMPDIR:-/tmp}); only WORK/release is kept
#                      unless a file differs
#
# Both sides use SOURCE_DATE_EPOCH = HEAD's commit time (as the release workflows do) and one throwaway signing key.
# Prints "same"/"DIFFERS" per file, the directory holding clone A's release files with their sums (SHA256SUMS.local;
# to check against a published release, README: Images) and the first difference. Exit status 1 when a file differs.
# Uncommitted changes are not in the clones: commit first.
set -euo pipefail
export LC_ALL=C TZ=UTC
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'repro: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'repro: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

archs=() rebuild=0 java=0 images=1 version="" work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs x86_64 or aarch64"; archs+=("$2"); shift 2 ;;
    --rebuild-kernels) rebuild=1; shift ;;
    --java) java=1; shift ;;
    --no-images) images=0; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || die "--work needs a directory"; work=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ "$images" = 1 ] || [ "$java" = 1 ] || die "nothing to build: --no-images without --java"
[ "$images" = 0 ] || [ ${#archs[@]} -gt 0 ] || archs=("$(uname -m)")
for arch in "${archs[@]}"; do
  case "$arch" in x86_64|aarch64) ;; *) die "unknown arch '$arch' (expected x86_64 or aarch64)" ;; esac
done
[ "$images" = 0 ] || [ "$(id -u)" = 0 ] || die "image builds need root (see image-build/README.md)"
if [ "$java" = 1 ]; then
  # shellcheck source=find-jdk.sh
  source "$root/scripts/find-jdk.sh"
  JAVA_HOME=$(kelpie_find_jdk) || exit 2
  export JAVA_HOME
fi

commit=$(git -C "$root" rev-parse --verify HEAD) || die "$root is not a git checkout with a commit"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  log "warning: uncommitted changes are not in the clones; they build $commit as committed"
fi
export SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct "$commit")
if [ -z "$version" ]; then
  version=$(git -C "$root" tag --points-at "$commit" --list 'v*' | sort -V | tail -1)
  version=${version#v}
  : "${version:=0.0.0-repro}"
fi
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/kelpie-repro.XXXXXX")
mkdir -p "$work"
work=$(cd "$work" && pwd)
# Paths of different lengths and depths, so that an embedded path shifts every offset after it.
clone_a=$work/a/kelpie
clone_b=$work/checkout-b-whose-path-is-longer/kelpie-repro
rm -rf "$work/a" "$work/checkout-b-whose-path-is-longer" "$work/out-a" "$work/out-b" "$work/release"
log "building $commit (version $version, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH) in $work"

# clone_head DEST: HEAD's commit alone (a shallow fetch also works from a shallow checkout, as CI's).
clone_head() {
  git init -q "$1"
  git -C "$1" fetch -q --depth 1 "file://$root" "$commit" || die "cannot fetch $commit from $root"
  git -C "$1" checkout -q --detach FETCH_HEAD
}

# build_side SIDE CLONE CACHE: the agent, the minimal image of each arch and the tarball, into WORK/out-SIDE.
build_side() {
  local side=$1 clone=$2 cache=$3 out=$work/out-$1 arch agent t0
  mkdir -p "$out"
  for arch in "${archs[@]}"; do
    t0=$(date +%s)
    log "$side: agent ($arch)"
    agent=$("$clone/guest-agent/scripts/build.sh" --arch "$arch" 2>"$out/agent-$arch.log" | tail -1) \
      || die "$side: the $arch agent build failed (log: $out/agent-$arch.log)"
    cp "$agent" "$out/kelpie-agent-$arch"
    log "$side: minimal image ($arch), kernels from $cache/kernel"
    KELPIE_CACHE_DIR=$cache "$clone/image-build/build.sh" --arch "$arch" --version "$version" --flavor minimal \
      --agent "$agent" --sign-key "$work/keys/repro.key" --out "$out/images" >"$out/image-$arch.log" 2>&1 \
      || die "$side: the $arch image build failed (log: $out/image-$arch.log)"
    log "$side: $arch done in $(( $(date +%s) - t0 )) s"
  done
  if [ "$java" = 1 ]; then
    t0=$(date +%s)
    log "$side: daemon (Maven package, no tests) and its release tarball"
    (cd "$clone" && ./mvnw -B -ntp package -DskipTests -pl host-daemon -am) >"$out/maven.log" 2>&1 \
      || die "$side: the Maven build failed (log: $out/maven.log)"
    # without the AOT caches: training runs write different bytes every time
    KELPIE_PACK_AOT=0 "$clone/scripts/pack-release.sh" "$version" "$out/dist" >/dev/null 2>"$out/pack.log" \
      || die "$side: packing failed (log: $out/pack.log)"
    log "$side: daemon done in $(( $(date +%s) - t0 )) s"
  fi
}

# The files to compare, relative to WORK/out-SIDE, in the order their differences are reported.
release_files() {
  local arch f
  for arch in "${archs[@]}"; do
    echo "kelpie-agent-$arch"
    for f in $(cd "$work/out-a/images/$version/$arch" && ls | sort); do echo "images/$version/$arch/$f"; done
  done
  [ "$java" = 0 ] || echo "dist/kelpie-$version-jvm.tar.gz"
}

# explain FILE: why A's and B's copies differ, in one line: bytes for binaries, the first member for archives.
explain() {
  local a=$work/out-a/$1 b=$work/out-b/$1
  [ -f "$b" ] || { echo "missing in B"; return; }
  case "$1" in
    *.tar.gz|*.tar.zst) python3 "$root/scripts/repro-diff.py" "$a" "$b" ;;
    *) echo "sizes $(stat -c %s "$a")/$(stat -c %s "$b") B, $(cmp -l "$a" "$b" 2>/dev/null | wc -l) bytes differ" ;;
  esac
}

# leaks SIDE CLONE: an agent must not name where it was built: the clone (and its target directory), the scratch
# directory, cargo's home or Debian's crate registry (the build maps them all to fixed paths).
leaks() {
  local side=$1 clone=$2 arch p n found=0
  for arch in "${archs[@]}"; do
    for p in "$clone" "$work" "${CARGO_HOME:-$HOME/.cargo}" /usr/share/cargo/registry; do
      n=$(grep -c -a -F -- "$p" "$work/out-$side/kelpie-agent-$arch" || true)
      if [ "$n" != 0 ]; then echo "LEAKS    $side: kelpie-agent-$arch holds $p ($n lines)"; found=1; fi
    done
  done
  return $found
}

mkdir -p "$work/keys"
minisign -G -W -p "$work/keys/repro.pub" -s "$work/keys/repro.key" >/dev/null
clone_head "$clone_a"
clone_head "$clone_b"
cache_a=${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie} cache_b=${KELPIE_CACHE_DIR:-$HOME/.cache/kelpie}
[ "$rebuild" = 0 ] || cache_b=$work/cache-b
build_side a "$clone_a" "$cache_a"
build_side b "$clone_b" "$cache_b"

first="" ok=1 count=$(release_files | wc -l)
while read -r f; do
  if cmp -s "$work/out-a/$f" "$work/out-b/$f"; then echo "same     $f"
  else echo "DIFFERS  $f: $(explain "$f")"; [ -n "$first" ] || first=$f; fi
done < <(release_files)
if [ "$images" = 1 ]; then leaks a "$clone_a" || ok=0; leaks b "$clone_b" || ok=0; fi

mkdir -p "$work/release"
for arch in "${archs[@]}"; do cp "$work/out-a/images/$version/$arch/kelpie-image-$version-$arch.tar.zst" "$work/release/"; done
[ "$java" = 0 ] || cp "$work/out-a/dist/kelpie-$version-jvm.tar.gz" "$work/release/"
# Named apart from a release's SHA256SUMS, which a user puts beside them to check them (README, Images).
(cd "$work/release" && ls | sort | xargs sha256sum) > "$work/SHA256SUMS.local" && mv "$work/SHA256SUMS.local" "$work/release/"
echo "release files of $commit (clone A) and their sums: $work/release"
if [ -n "$first" ] || [ "$ok" = 0 ]; then
  [ -z "$first" ] || echo "first difference: $first"
  echo "kept for inspection: $work (out-a, out-b: outputs and build logs)"
  exit 1
fi
rm -rf "$work/a" "$work/checkout-b-whose-path-is-longer" "$work/out-a" "$work/out-b" "$work/cache-b"
echo "all $count files byte-identical across the two checkouts"
