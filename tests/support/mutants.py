"""The parity corpus: seed SRPMs made by rpmbuild, and deterministic mutants of them.

Seeds: one SRPM per payload rpmbuild writes (``w.ufdio``, gzip, bzip2, xz,
lzma, zstd), and two made from the gzip one by surgery that rpmbuild only does
for other inputs: a %ghost file added to its file list, and its archive
rewritten in the stripped ``07070X`` format rpm uses for files of 4 GiB and more.

Mutants (a fixed seed, so the same files every run) come in five kinds:

* ``raw``: bytes flipped, set, inserted, deleted or cut anywhere; most of these
  only meet the digest checks;
* ``header-bytes``: bytes of the main header changed, then the digests made to
  match again, so rpm's structural checks are what meets them;
* ``header-tags``: one header entry changed (type, count, tag, data, a hostile
  file name, mode, flag, size, digest, compressor...), the header rebuilt and the
  digests made to match;
* ``signature``: the signature header's bytes or digest tags changed;
* ``payload``: the decompressed archive changed (headers, names, sizes, data,
  magic, trailer), recompressed, and the payload digests made to match.
"""

from __future__ import annotations

import hashlib
import random
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support import craft
from tests.support.craft import Entry, header_blob, header_entries, ints, reseal, split_rpm, strings
from tests.support.srpms import binary_tarball, build_srpm

__all__ = ["PAYLOADS", "Mutant", "build_seeds", "mutants"]

PAYLOADS = {"none": "w.ufdio", "gzip": "w9.gzdio", "bzip2": "w9.bzdio", "xz": "w2.xzdio", "lzma": "w2.lzdio"}
PAYLOADS["zstd"] = "w19.zstdio"
_COMPRESSOR_TAG = 1125
_HOSTILE_NAMES = [
    ".git", ".GIT", "git~1", ".git.", ".gitmodules", "GITMOD~1", ".g\u200cit", "../evil", "a/b", "/etc/passwd",
    "", "x" * 300, "\u00e9" * 130, "pkg.spec", "new\nline", "caf\u00e9.txt",
]  # fmt: skip
_MODES = [stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755, stat.S_IFCHR | 0o600, stat.S_IFIFO | 0o644, 0o100755, 0]
_COMPRESSORS = ["gzip", "xz", "lzma", "bzip2", "zstd", "none", "ufdio", "gzdio", "", "GZIP"]


@dataclass(frozen=True)
class Mutant:
    name: str
    kind: str
    seed: str
    data: bytes


def _rpmbuild_seed(workdir: Path, payload: str) -> bytes:
    tarball = binary_tarball(name="pkg", version="1", size=3000)
    srpm = build_srpm(
        workdir=workdir / payload,
        name="pkg",
        sources={"pkg-1.tar.gz": tarball, "notes.txt": b"plain text source\n" * 20},
        patches={"fix.patch": b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"},
        payload=payload,
    )
    return srpm.read_bytes()


def _replace_entries(main: bytes, changed: dict[int, Entry | None], added: list[Entry] = ()) -> bytes:  # type: ignore[assignment]
    entries = [changed.get(e.tag, e) for e in header_entries(main)]
    return header_blob([e for e in entries if e is not None] + list(added), region=63)


def _ghost_seed(gzip_seed: bytes) -> bytes:
    """The gzip seed with a %ghost file added to the header (rpm writes no data for it)."""
    parts = split_rpm(gzip_seed)
    by_tag = {e.tag: e for e in header_entries(parts.main)}
    names = by_tag[1117].data.split(b"\0")[: by_tag[1117].count]
    n = len(names)

    def grow(tag: int, kind: int, value: bytes) -> Entry:
        old = by_tag[tag]
        return Entry(tag, kind, old.count + 1, old.data + value)

    changed = {
        1117: grow(1117, 8, b"ghost.log\0"),
        1116: grow(1116, 4, struct.pack(">I", 0)),
        1028: grow(1028, 4, struct.pack(">I", 0)),
        1030: grow(1030, 3, struct.pack(">H", 0o100644)),
        1037: grow(1037, 4, struct.pack(">I", 1 << 6)),
        1035: grow(1035, 8, b"\0"),
        1096: grow(1096, 4, struct.pack(">I", n + 1)),
        1095: grow(1095, 4, struct.pack(">I", 1)),
        1039: grow(1039, 8, b"root\0"),
        1040: grow(1040, 8, b"root\0"),
    }
    for tag in (1029, 1033, 1034, 1036, 1045, 1097, 1140, 1141):
        if tag in by_tag:
            e = by_tag[tag]
            size = len(e.data) // e.count if e.type not in (6, 8, 9) else 0
            changed[tag] = grow(tag, e.type, b"\0" * size if size else b"\0")
    main = _replace_entries(parts.main, changed)  # type: ignore[arg-type]
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + main + parts.payload)


def _stripped_seed(gzip_seed: bytes) -> bytes:
    """The gzip seed with its archive in rpm's stripped format and 64-bit sizes."""
    parts = split_rpm(gzip_seed)
    by_tag = {e.tag: e for e in header_entries(parts.main)}
    names = [n.decode() for n in by_tag[1117].data.split(b"\0")[: by_tag[1117].count]]
    archive = craft.decompress(parts.payload, "gzip")
    members = _members(archive)
    stripped = b""
    for path, data in members:
        head = b"07070X" + b"%08x" % names.index(path.removeprefix("./"))
        stripped += head + b"\0\0" + data + b"\0" * (-len(data) % 4)
    stripped += craft.newc("TRAILER!!!", mode=0, nlink=1, data=b"")
    payload = craft.compress(stripped, "gzip")
    sizes = struct.unpack(f">{by_tag[1028].count}I", by_tag[1028].data)
    main = _replace_entries(parts.main, {1028: None}, [ints(5008, 5, list(sizes))])
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + main + payload, archive=stripped)


def _members(archive: bytes) -> list[tuple[str, bytes]]:
    out, pos = [], 0
    while True:
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name = archive[pos + 110 : pos + 110 + namesize - 1].decode()
        pos += 110 + namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return out
        out.append((name, archive[pos : pos + size]))
        pos += size + (-size % 4)


def build_seeds(workdir: Path) -> dict[str, bytes]:
    """The seed packages by name; rpmbuild runs once per payload."""
    seeds = {name: _rpmbuild_seed(workdir, payload) for name, payload in PAYLOADS.items()}
    seeds["ghost"] = _ghost_seed(seeds["gzip"])
    seeds["stripped"] = _stripped_seed(seeds["gzip"])
    return seeds


# --- the mutation operators ---------------------------------------------------------


def _raw(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    headers_end = len(split_rpm(data).lead + split_rpm(data).sig) + len(split_rpm(data).main) + 8
    where = rng.randrange(headers_end) if rng.random() < 0.6 else rng.randrange(len(buf))
    op = rng.choice(["flip", "set", "insert", "delete", "cut"])
    if op == "flip":
        buf[where] ^= 1 << rng.randrange(8)
    elif op == "set":
        buf[where] = rng.choice([0, 0xFF, rng.randrange(256)])
    elif op == "insert":
        buf[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == "delete":
        del buf[where : where + rng.randint(1, 8)]
    else:
        del buf[where:]
    return bytes(buf)


def _header_bytes(rng: random.Random, data: bytes) -> bytes:
    parts = split_rpm(data)
    main = bytearray(parts.main)
    il = struct.unpack(">i", main[8:12])[0]
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(8, 16 + 16 * il) if rng.random() < 0.6 else rng.randrange(8, len(main))
        main[where] = rng.choice([main[where] ^ (1 << rng.randrange(8)), 0, 0xFF, rng.randrange(256)])
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + bytes(main) + parts.payload)


def _edit_entry(rng: random.Random, entry: Entry) -> Entry | None:
    op = rng.choice(["type", "count", "drop", "flip", "tag", "cut", "grow"])
    if op == "type":
        return Entry(entry.tag, rng.randrange(11), entry.count, entry.data)
    if op == "count":
        count = rng.choice([0, entry.count - 1, entry.count + 1, 0xFFFFFFFF, 0x100000])
        return Entry(entry.tag, entry.type, count & 0xFFFFFFFF, entry.data)
    if op == "drop":
        return None
    if op == "tag":
        return Entry(rng.choice([99, 1000, 1004, 1117, 5092, 269, rng.randrange(100, 6000)]), *_rest(entry))
    data = bytearray(entry.data)
    if op == "flip" and data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif op == "cut" and data:
        del data[rng.randrange(len(data)) :]
    else:
        data += rng.choice([b"\0", b"x", b"extra\0", bytes(8)])
    return Entry(entry.tag, entry.type, entry.count, bytes(data))


def _rest(entry: Entry) -> tuple[int, int, bytes]:
    return entry.type, entry.count, entry.data


def _file_edit(rng: random.Random, by_tag: dict[int, Entry]) -> dict[int, Entry | None]:
    """A semantic change to the file list, keeping the header well formed."""
    names = by_tag[1117].data.split(b"\0")[: by_tag[1117].count]
    i = rng.randrange(len(names))
    op = rng.choice(["name", "mode", "flags", "size", "digest", "algo", "dirindex", "dirname", "drop-tag"])
    if op == "name":
        names[i] = rng.choice(_HOSTILE_NAMES + [n.decode() for n in names]).encode()
        return {1117: Entry(1117, 8, len(names), b"".join(n + b"\0" for n in names))}
    if op == "mode":
        return {1030: _set_int(by_tag[1030], i, rng.choice(_MODES))}
    if op == "flags":
        return {1037: _set_int(by_tag[1037], i, rng.choice([0, 1 << 5, 1 << 6, 1 << 0, 0xFFFFFFFF]))}
    if op == "size":
        old = _get_int(by_tag[1028], i) if 1028 in by_tag else 0
        tag = 1028 if 1028 in by_tag else 5008
        return {tag: _set_int(by_tag[tag], i, max(0, old + rng.choice([-1, 1, 4096, 1 << 30])))}
    if op == "digest":
        digests = by_tag[1035].data.split(b"\0")[: by_tag[1035].count]
        digests[i] = rng.choice([b"", digests[i].upper(), b"0" * 64, digests[i][:-2], b"zz" * 32, b"ab" * 16])
        return {1035: Entry(1035, 8, len(digests), b"".join(d + b"\0" for d in digests))}
    if op == "algo":
        return {5011: ints(5011, 4, [rng.choice([0, 1, 2, 3, 9, 10, 11, 12, 99])])}
    if op == "dirindex":
        return {1116: _set_int(by_tag[1116], i, rng.choice([1, 2, 0xFFFFFFFF]))}
    if op == "dirname":
        return {1118: strings(1118, [rng.choice(["/", "sub/", "../", "/tmp/", ""]), "extra/"][: rng.randint(1, 2)])}
    return {rng.choice([1118, 1116, 1030, 1035, 1039, 1040, 1028, 5011, 1096]): None}


def _get_int(entry: Entry, i: int) -> int:
    size = {3: 2, 4: 4, 5: 8}[entry.type]
    return int.from_bytes(entry.data[i * size : (i + 1) * size], "big")


def _set_int(entry: Entry, i: int, value: int) -> Entry:
    size = {3: 2, 4: 4, 5: 8}[entry.type]
    data = bytearray(entry.data)
    data[i * size : (i + 1) * size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big")
    return Entry(entry.tag, entry.type, entry.count, bytes(data))


def _header_tags(rng: random.Random, data: bytes) -> bytes:
    parts = split_rpm(data)
    entries = header_entries(parts.main)
    by_tag = {e.tag: e for e in entries}
    roll = rng.random()
    added: list[Entry] = []
    if roll < 0.4:
        changed = _file_edit(rng, by_tag)
    elif roll < 0.55:
        value = rng.choice(_COMPRESSORS)
        changed = {_COMPRESSOR_TAG: strings(_COMPRESSOR_TAG, [value], kind=6) if value != "" else None}
    elif roll < 0.65:
        target = rng.choice(entries)
        changed, added = {}, [target]  # the same tag twice
    elif roll < 0.75:
        added = [rng.choice([strings(1027, ["/x"]), strings(1120, ["x"]), strings(269, ["0" * 40], kind=6),
                             strings(1044, ["x.src.rpm"], kind=6), strings(1124, ["drpm"], kind=6)])]  # fmt: skip
        changed = {a.tag: None for a in added}
    else:
        target = rng.choice(entries)
        changed = {target.tag: _edit_entry(rng, target)}
    main = _replace_entries(parts.main, changed, added)
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + main + parts.payload)


def _signature(rng: random.Random, data: bytes) -> bytes:
    parts = split_rpm(data)
    if rng.random() < 0.5:
        sig = bytearray(parts.sig)
        where = rng.randrange(len(sig))
        sig[where] = rng.choice([sig[where] ^ (1 << rng.randrange(8)), 0, 0xFF])
        return parts.lead + bytes(sig) + b"\0" * (-len(sig) % 8) + parts.main + parts.payload
    entries = header_entries(parts.sig)
    target = rng.choice(entries)
    edit = rng.choice(["drop", "drop-all", "edit"])
    if edit == "drop-all":
        entries = [e for e in entries if e.tag not in (269, 273, 1004)]
    else:
        new = None if edit == "drop" else _edit_entry(rng, target)
        entries = [new if e is target else e for e in entries]
    sig = header_blob([e for e in entries if e is not None], region=62)
    return reseal(parts.lead + sig + b"\0" * (-len(sig) % 8) + parts.main + parts.payload)


def _compressor_of(main: bytes) -> str:
    for e in header_entries(main):
        if e.tag == _COMPRESSOR_TAG:
            return e.data.rstrip(b"\0").decode()
    return "none"


def _payload(rng: random.Random, data: bytes) -> bytes:
    parts = split_rpm(data)
    compressor = _compressor_of(parts.main)
    archive = bytearray(craft.decompress(parts.payload, compressor))
    op = rng.choice(["flip-head", "flip-any", "cut", "junk", "magic", "size", "namesize", "evil-member"])
    if op == "flip-head":
        where = rng.randrange(min(len(archive), 400))
        archive[where] ^= 1 << rng.randrange(8)
    elif op == "flip-any":
        archive[rng.randrange(len(archive))] ^= 1 << rng.randrange(8)
    elif op == "cut":
        del archive[rng.randrange(len(archive)) :]
    elif op == "junk":
        archive += rng.choice([b"\0" * 4, b"junk", bytes(rng.randrange(256) for _ in range(64))])
    elif op == "magic":
        archive[0:6] = rng.choice([b"070702", b"07070X", b"070707", b"070700"])
    elif op in ("size", "namesize"):
        offset = 6 + 8 * (6 if op == "size" else 11)
        archive[offset : offset + 8] = b"%08x" % rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 4096])
    else:
        evil = craft.newc(rng.choice(["../evil", "./sub/x", "/etc/x", "./pkg.spec"]), mode=0o100644, nlink=1, data=b"x")
        archive[0:0] = evil
    payload = craft.compress(bytes(archive), compressor)
    return reseal(parts.lead + parts.sig + b"\0" * (-len(parts.sig) % 8) + parts.main + payload, archive=bytes(archive))


_KINDS: list[tuple[str, float, Callable[[random.Random, bytes], bytes]]] = [
    ("raw", 0.30, _raw),
    ("header-bytes", 0.15, _header_bytes),
    ("header-tags", 0.30, _header_tags),
    ("signature", 0.10, _signature),
    ("payload", 0.15, _payload),
]


def _pick(roll: float) -> tuple[str, Callable[[random.Random, bytes], bytes]]:
    acc = 0.0
    for kind, weight, operator in _KINDS:
        acc += weight
        if roll < acc:
            return kind, operator
    return _KINDS[-1][0], _KINDS[-1][2]


def mutants(seeds: dict[str, bytes], *, per_seed: int, seed: int = 20240917) -> list[Mutant]:
    """``per_seed`` mutants of each seed, the same ones every time."""
    rng = random.Random(seed)
    out = []
    for seed_name in sorted(seeds):
        for i in range(per_seed):
            kind, operator = _pick(rng.random())
            data = operator(rng, seeds[seed_name])
            tag = hashlib.sha256(data).hexdigest()[:8]
            out.append(Mutant(f"{seed_name}-{i:04d}-{kind}-{tag}", kind, seed_name, data))
    return out
