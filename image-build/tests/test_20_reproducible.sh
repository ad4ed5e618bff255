#!/usr/bin/env bash
# Reproducibility: the minimal x86_64 image built twice from the same inputs, in two different output
# directories (and different temp dirs), is byte-identical file by file; plus checks of what was built.
. "$(dirname "$0")/lib.sh"
agent=$tests_dir/fixtures/test-init.sh   # TEST-ONLY init; the agent binary is just an input here
a=$KELPIE_TEST_WORK/repro-a b=$KELPIE_TEST_WORK/repro-b
mkdir -p "$a" "$b"
t0=$(date +%s)
da=$(TMPDIR=$KELPIE_TEST_WORK build_image "$a" x86_64 minimal "$agent") || { fail "build A failed: $(tail -5 "$a.log")"; exit 1; }
t1=$(date +%s)
mkdir -p "$KELPIE_TEST_WORK/tmp-b"
db=$(TMPDIR=$KELPIE_TEST_WORK/tmp-b build_image "$b" x86_64 minimal "$agent") || { fail "build B failed: $(tail -5 "$b.log")"; exit 1; }
t2=$(date +%s)
echo "INFO build A $((t1 - t0)) s, build B $((t2 - t1)) s (kernel from cache)"

la=$(cd "$da" && ls | sort | tr '\n' ' '); lb=$(cd "$db" && ls | sort | tr '\n' ' ')
expected="SHA256SUMS SHA256SUMS.minisig bzImage disk-template.ext4 kelpie-image-$KELPIE_TEST_VERSION-x86_64.tar.zst metadata.json minisign.pub rootfs.ext4 vmlinux "
if [ "$la" = "$expected" ] && [ "$lb" = "$expected" ]; then pass "layout: $la"; else fail "layout: A=[$la] B=[$lb] expected [$expected]"; fi
diffs=""
for f in $la; do cmp -s "$da/$f" "$db/$f" || diffs="$diffs $f"; done
if [ -z "$diffs" ]; then pass "reproducible: all $(echo $la | wc -w) artifacts byte-identical across two builds"
else fail "reproducible: differing artifacts:$diffs"; fi

# Sums, signature, metadata, archive contents.
if (cd "$da" && sha256sum --quiet -c SHA256SUMS); then pass "SHA256SUMS verifies"; else fail "SHA256SUMS does not verify"; fi
if minisign -V -q -p "$KELPIE_TEST_WORK/keys/test.pub" -m "$da/SHA256SUMS" -x "$da/SHA256SUMS.minisig"; then
  pass "minisign signature verifies with the signing key"; else fail "minisign signature does not verify"; fi
cp "$da/SHA256SUMS" "$KELPIE_TEST_WORK/tampered"; echo x >> "$KELPIE_TEST_WORK/tampered"
if minisign -V -q -p "$KELPIE_TEST_WORK/keys/test.pub" -m "$KELPIE_TEST_WORK/tampered" -x "$da/SHA256SUMS.minisig" 2>/dev/null; then
  fail "a tampered SHA256SUMS verifies"; else pass "a tampered SHA256SUMS is rejected"; fi
if python3 - "$da" "$KELPIE_TEST_VERSION" <<'PY'
import hashlib, json, os, sys
d, version = sys.argv[1:3]
m = json.load(open(os.path.join(d, "metadata.json")))
assert m["version"] == version and m["arch"] == "x86_64" and m["flavor"] == "minimal", m
assert m["kernel"]["release"].startswith("6.1."), m["kernel"]
assert len(m["kernel"]["config_sha256"]) == 64
assert m["agent"]["version"] and m["agent"]["protocol_version"] == 1
assert "init=/sbin/kelpie-agent" in m["kernel_cmdline"]
names = {p["name"]: p["version"] for p in m["packages"]}
assert "busybox-static" in names and "ca-certificates" in names, names
files = {f["name"]: f for f in m["files"]}
assert set(files) == {"vmlinux", "bzImage", "rootfs.ext4", "disk-template.ext4"}, files.keys()
for n, f in files.items():
    p = os.path.join(d, n)
    assert os.path.getsize(p) == f["size"], n
    assert hashlib.sha256(open(p, "rb").read()).hexdigest() == f["sha256"], n
for k in ("source_date_epoch", "recipe_sha256", "lock_sha256", "mke2fs", "zstd"):
    assert k in m["build_inputs"], k
PY
then pass "metadata.json: version, arch, flavor, kernel, agent, packages, sizes and sha256 of every file"
else fail "metadata.json check failed"; fi
arc=$da/kelpie-image-$KELPIE_TEST_VERSION-x86_64.tar.zst
members=$(zstd -dc "$arc" | tar -tvf - --numeric-owner | awk '{print $2, $NF}' | tr '\n' ' ')
ok=1; mkdir -p "$KELPIE_TEST_WORK/unpack"; zstd -dc "$arc" | tar -xf - -C "$KELPIE_TEST_WORK/unpack"
for f in bzImage disk-template.ext4 metadata.json rootfs.ext4 vmlinux; do cmp -s "$da/$f" "$KELPIE_TEST_WORK/unpack/$f" || ok=0; done
case "$members" in *"1000/"*) ok=0 ;; esac
if [ $ok = 1 ]; then pass "archive holds the kernel, rootfs, template and metadata, owned 0/0: $members"; else fail "archive content: $members"; fi
rm -rf "$KELPIE_TEST_WORK/unpack"

# Sizes (README targets: minimal rootfs <= 16 MiB, archive <= 8 MiB).
rs=$(stat -c %s "$da/rootfs.ext4"); as=$(stat -c %s "$arc"); ts=$(du -k "$da/disk-template.ext4" | cut -f1)
echo "INFO sizes: rootfs.ext4 $rs B, archive $as B, bzImage $(stat -c %s "$da/bzImage") B, vmlinux $(stat -c %s "$da/vmlinux") B, disk-template allocated $ts KiB"
if [ "$rs" -le $((16 * 1024 * 1024)) ]; then pass "minimal rootfs.ext4 $rs B <= 16 MiB"; else fail "minimal rootfs.ext4 $rs B > 16 MiB"; fi
if [ "$as" -le $((8 * 1024 * 1024)) ]; then pass "minimal archive $as B <= 8 MiB"; else fail "minimal archive $as B > 8 MiB"; fi
if [ "$ts" -le 1024 ]; then pass "disk-template.ext4 is sparse ($ts KiB allocated)"; else fail "disk-template.ext4 not sparse: $ts KiB allocated"; fi

# Rootfs content: the version file, the agent as PID 1 binary, applet links, CA bundle, passwd.
dbg() { debugfs -R "$1" "$da/rootfs.ext4" 2>/dev/null; }
v=$(dbg "cat /etc/kelpie-version")
if [ "$v" = "$KELPIE_TEST_VERSION" ]; then pass "/etc/kelpie-version = $v"; else fail "/etc/kelpie-version = '$v'"; fi
if [ "$(dbg "cat /usr/sbin/kelpie-agent" | sha256sum | cut -d' ' -f1)" = "$(sha256sum < "$agent" | cut -d' ' -f1)" ]; then
  pass "/sbin/kelpie-agent is the given agent"; else fail "/sbin/kelpie-agent differs from the agent"; fi
sh_link=$(dbg "stat /usr/bin/sh"); bundle=$(dbg "cat /etc/ssl/certs/ca-certificates.crt"); passwd=$(dbg "cat /etc/passwd")
if [[ "$sh_link" == *'Fast link dest: "/bin/busybox"'* && "$bundle" == *"BEGIN CERTIFICATE"* && "$passwd" == *"root:x:0:0:"* ]]; then
  pass "busybox applet links, CA bundle and /etc/passwd present"; else fail "applet links / CA bundle / passwd missing"; fi
if e2fsck -fn "$da/rootfs.ext4" >/dev/null 2>&1 && e2fsck -fn "$da/disk-template.ext4" >/dev/null 2>&1; then
  pass "e2fsck: rootfs.ext4 and disk-template.ext4 clean"; else fail "e2fsck reports problems"; fi
