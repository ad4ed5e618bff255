#!/usr/bin/env python3
"""repro-diff.py A B: names, in one line, the first difference between two archives (tar, tar.gz or tar.zst) that
should hold the same bytes: a member only one of them has, a member's header (type, mode, owner, mtime, link) or its
content; inside a member that is a jar or zip, the first entry that differs. Used by scripts/repro.sh.
Members are streamed (an image archive holds a 1 GiB sparse disk template); only jars and zips are held in memory."""
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile


def read_members(path):
    """{name: (header, sha256, bytes of a jar/zip or None)} and the names in archive order."""
    proc = None
    if path.endswith(".zst"):
        proc = subprocess.Popen(["zstd", "-dcq", path], stdout=subprocess.PIPE)
        tf = tarfile.open(fileobj=proc.stdout, mode="r|")
    else:
        tf = tarfile.open(path, mode="r|*")
    found, order = {}, []
    for m in tf:
        header = (m.type, oct(m.mode), m.uid, m.gid, m.uname, m.gname, m.mtime, m.linkname, m.size)
        digest, kept = hashlib.sha256(), None
        if m.isfile():
            f = tf.extractfile(m)
            keep = m.name.endswith((".jar", ".zip"))
            parts = []
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                if keep:
                    parts.append(chunk)
            kept = b"".join(parts) if keep else None
        found[m.name] = (header, digest.hexdigest(), kept)
        order.append(m.name)
    tf.close()
    if proc:
        proc.wait()
    return found, order


def zip_difference(a, b):
    """The first entry in which two zips differ, or a remark on the zip's own bytes."""
    za, zb = zipfile.ZipFile(io.BytesIO(a)), zipfile.ZipFile(io.BytesIO(b))
    ia, ib = za.infolist(), zb.infolist()
    na, nb = [i.filename for i in ia], [i.filename for i in ib]
    if na != nb:
        only = sorted(set(na) ^ set(nb))
        return f": entries differ ({only[0]} only in {'A' if only[0] in na else 'B'})" if only else ": entry order differs"
    for x, y in zip(ia, ib):
        for what in ("date_time", "external_attr", "compress_type", "extra", "comment", "CRC"):
            if getattr(x, what) != getattr(y, what):
                return f"!/{x.filename}: {what} {getattr(x, what)!r} vs {getattr(y, what)!r}"
    return ": same entries, different zip bytes (central directory or compression)"


def member_difference(name, a, b):
    """Why member NAME differs between the two archives, or None when it does not."""
    if name not in b:
        return f"member {name} only in A"
    if name not in a:
        return f"member {name} only in B"
    (ha, sa, ka), (hb, sb, kb) = a[name], b[name]
    if ha == hb and sa == sb:
        return None
    why = f"member {name}"
    if ha != hb:
        fields = ("type", "mode", "uid", "gid", "uname", "gname", "mtime", "linkname", "size")
        why += ": header (" + ", ".join(f"{f} {x} vs {y}" for f, x, y in zip(fields, ha, hb) if x != y) + ")"
    if sa != sb:
        inner = zip_difference(ka, kb) if ka is not None and kb is not None else ": content"
        if ha != hb:  # "member X: header (...); entry Y: ..." rather than "member X: header (...)!/Y: ..."
            inner = "; entry " + inner[2:] if inner.startswith("!/") else ";" + inner[1:]
        why += inner
    return why


def main():
    a, order_a = read_members(sys.argv[1])
    b, order_b = read_members(sys.argv[2])
    names = sorted(set(order_a) | set(order_b))
    differing = [(n, d) for n in names for d in [member_difference(n, a, b)] if d]
    if differing:
        more = ""
        if len(differing) > 1:
            others = ", ".join(n for n, _ in differing[1:4]) + (", ..." if len(differing) > 4 else "")
            more = f" (and {len(differing) - 1} more members: {others})"
        return print(differing[0][1] + more)
    if order_a != order_b:
        return print("same members in another order")
    print("same members, different archive bytes (compression or padding)")


if __name__ == "__main__":
    main()
