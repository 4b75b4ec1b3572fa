#!/usr/bin/env python3
"""Writes the hand-made seed corpora under tests/fuzz/corpus/<target>/ (valid and near-valid
inputs for each fuzz target). Re-run after changing it; regression inputs found by fuzzing
live beside the seeds as crash-*/hang-* files and are never rewritten by this script.
Usage: tests/fuzz/make_corpus.py"""
import hashlib
import os
import struct
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def sha(data):
    return hashlib.sha256(data).hexdigest()


EMPTY = sha(b"")
HELLO = sha(b"hello\n")  # stored by tree_fuzz before any input
WORLD = sha(b"world\n")

# --- route: request targets ---
for i, t in enumerate([
        "/cas/" + HELLO, "/cas/" + HELLO.upper(), "/ac/" + HELLO + "?x=1", "/kv/ccache/ab/cdef",
        "/kv/a/b/", "/kv/a%2Fb%00c", "/kv/../etc/passwd", "/kv/a//b", "/kv/%zz", "/kv/a%2",
        "/v1/blobs:findMissing", "/v1/blobs:batchRead", "/v1/blobs:batchUpdate", "/v1/stats",
        "/metrics", "/healthz", "/v1/gc?dry_run=1", "/v1/refs?prefix=a%20b", "/v1/refs/",
        "/v1/refs/team/main", "/v1/keys", "/v1/audit", "/v1/releases/app/1.0",
        "/v1/releases/app/1.0/bin/app.tar", "/v1/releases/app/1.0:yank", "/v1/releases/:yank",
        "/v1/trees/" + HELLO + "/6", "/v1/trees/" + HELLO + "/18446744073709551615",
        "/v1/trees/" + HELLO + "/99999999999999999999", "/v1/trees/" + HELLO, "no-slash", "/",
        "/kv/" + "a" * 300, "/mirror/deb/./dists/x/InRelease", "/mirror/deb@good/pool/a%3a1.deb",
        "/mirror/deb/a\\p/1.0", "/mirror/deb/a%2Fb", "/v1/mirror/deb/snapshots/good?pin=1",
        "/v1/mirror/deb/overrides/pool/a.deb"]):
    write("route", "%02d" % i, t)

# --- http_fields: flags, size (1 or 8 bytes), Range line, Accept-Encoding ---
def fields(size, rng, accept):
    if size < 256:
        head = bytes([0, size])
    else:
        head = bytes([1]) + struct.pack(">Q", size)
    return head + rng.encode() + b"\n" + accept.encode()

for i, (size, rng, accept) in enumerate([
        (100, "bytes=0-9", "zstd"), (100, "bytes=90-", "gzip, zstd;q=0"),
        (100, "bytes=-10", "zstd;q=0.000"), (100, "bytes=-0", "ZSTD;Q=0.5"),
        (0, "bytes=0-", "*"), (100, "bytes=100-200", "br, zstd ; q=1"),
        (100, "bytes=5-4", "identity"), (100, "bytes=0-9,20-29", "zstd,gzip"),
        (100, "bytes = 1 - 2", " zstd "), (2**64 - 1, "bytes=18446744073709551614-", "zstd;q="),
        (2**64 - 1, "bytes=-18446744073709551615", ""), (100, "items=0-1", ","),
        (100, "bytes=18446744073709551616-", "zstd;q=0."), (1000, "bytes=-", "x;q=0, zstd")]):
    write("http_fields", "%02d" % i, fields(size, rng, accept))

# --- auth: Authorization values (the fixture's token is random, so these are all refused) ---
import base64
for i, h in enumerate([
        "", "Bearer ", "Bearer ingot_AAAA", "bearer ingot_AAAA", "Basic " +
        base64.b64encode(b"ccache:ingot_AAAA").decode(), "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic =", "Basic QQ==", "Basic QR==", "Basic QUJD", "Basic QUJ=", "Basic Q===", "Basic ====",
        "Basic", "Basic  ", "Digest username=x", "BearerX y", "Bearer\tx"]):
    write("auth", "%02d" % i, h)

# --- json_api: endpoint byte (0 findMissing, 1 batchRead, 2 batchUpdate), then the body ---
def jbody(endpoint, text):
    return bytes([endpoint]) + text.encode()

bodies = [
    (0, '{"digests":[{"hash":"%s","size":0},{"hash":"%s","size":6}]}' % (EMPTY, HELLO)),
    (0, '{"digests":[{"hash":"%s","size":-1}]}' % EMPTY),
    (0, '{"digests":[{"hash":"%s","size":0}]}' % EMPTY.upper()),
    (0, '{"digests":{}}'), (0, '[]'), (0, '{"digests":[1,"x",null]}'), (0, '{"digests":[]}'),
    (1, '{"digests":[{"hash":"%s","size":0},{"hash":"%s","size":6}]}' % (EMPTY, HELLO)),
    (1, '{"digests":[{"hash":"%s","size":99999999}]}' % HELLO),
    (1, '{"digests":[{"hash":"%s","size":1.5}]}' % HELLO),
    (2, '{"requests":[{"hash":"%s","size":6,"data":"%s"}]}' %
     (HELLO, base64.b64encode(b"hello\n").decode())),
    (2, '{"requests":[{"hash":"%s","size":6,"data":"aGVsbG8K"},{"hash":"%s","size":0,"data":""}]}' %
     (WORLD, EMPTY)),
    (2, '{"requests":[{"hash":"%s","size":6,"data":"aGVsbG8"}]}' % HELLO),
    (2, '{"requests":[{"hash":"%s","size":6}]}' % HELLO),
    (2, '{"requests":[{"hash":"%s","size":6,"data":7}]}' % HELLO),
    (2, '{"requests":[' + "[" * 50 + "]" * 50 + "]}"), (1, '{"digests":[{"hash":"\\u0000","size":0}]}'),
    (0, '{"digests":[{"hash":"' + "\xff" + '","size":0}]}')]
for i, (e, b) in enumerate(bodies):
    write("json_api", "%02d" % i, jbody(e, b))

# --- narinfo: narinfo texts as nix 2.8 writes them, other spellings, and near misses ---
def nix32(data):
    alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
    n, x = (len(data) * 8 + 4) // 5, int.from_bytes(data, "little")
    return "".join(alphabet[(x >> (5 * i)) & 31] for i in range(n - 1, -1, -1))

NAR = hashlib.sha256(b"nar").digest()
FILE = hashlib.sha256(b"file").digest()
SELF = nix32(hashlib.sha1(b"hello").digest()) + "-hello-2.12.1"
DEP = nix32(hashlib.sha1(b"glibc").digest()) + "-glibc-2.35-163"
DRV = nix32(hashlib.sha1(b"drv").digest()) + "-hello-2.12.1.drv"
SIG = "cache.example.org-1:" + base64.b64encode(hashlib.sha512(b"sig").digest()).decode()
nix_written = ("StorePath: /nix/store/%s\nURL: nar/%s.nar.xz\nCompression: xz\n"
               "FileHash: sha256:%s\nFileSize: 50088\nNarHash: sha256:%s\nNarSize: 226552\n"
               "References: %s %s\nDeriver: %s\nSig: %s\n" % (
                   SELF, nix32(FILE), nix32(FILE), nix32(NAR), DEP, SELF, DRV, SIG))
minimal = ("StorePath: /nix/store/%s\nURL: nar/x.nar\nNarHash: sha256:%s\nNarSize: 1\n"
           "References: \n" % (SELF, nix32(NAR)))
for i, text in enumerate([
        nix_written, minimal,
        minimal.replace("sha256:" + nix32(NAR), "sha256:" + NAR.hex()),
        minimal.replace("sha256:" + nix32(NAR), "sha256:" + NAR.hex().upper()),
        minimal.replace("sha256:" + nix32(NAR), "sha256:" + base64.b64encode(NAR).decode()),
        minimal.replace("sha256:" + nix32(NAR), "sha256-" + base64.b64encode(NAR).decode()),
        minimal + "System: x86_64-linux\nCA: fixed:r:sha256:%s\nX-Other: a: b\nSig: k:AAAA\n"
        "Sig: j:BBBB\nDeriver: unknown-deriver\n" % nix32(NAR),
        nix_written.replace("\n", "\r\n"), nix_written[:-1], nix_written + "\n",
        nix_written.replace("NarSize: 226552", "NarSize: 0"),
        nix_written + "Compression: xz\n", minimal.replace("References: ", "References:  " + DEP),
        minimal.replace("/nix/store/", "/nix/store//"), "StorePath /nix/store/%s\n" % SELF, ""]):
    write("narinfo", "%02d" % i, text)

# --- tree: protos (mode 0 stores and walks; 2 pins) and ref bodies (mode 1) ---
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload

def digest(h, size):
    return field(1, 2, h.encode()) + field(2, 0, varint(size & (2**64 - 1)))

def filenode(name, h, size, exe=False):
    return field(1, 2, name.encode()) + field(2, 2, digest(h, size)) + (field(4, 0, b"\x01") if exe else b"")

def dirnode(name, h, size):
    return field(1, 2, name.encode()) + field(2, 2, digest(h, size))

leaf = field(1, 2, filenode("hello.txt", HELLO, 6)) + field(1, 2, filenode("world.sh", WORLD, 6, True))
protos = {
    "dir-empty": b"",
    "dir-files": leaf,
    "dir-subdir-empty": field(2, 2, dirnode("empty", EMPTY, 0)) + field(1, 2, filenode("a", HELLO, 6)),
    "dir-subdir-leaf": field(2, 2, dirnode("sub", sha(leaf), len(leaf))),
    "dir-missing-file": field(1, 2, filenode("gone", sha(b"gone"), 4)),
    "dir-bad-digest": field(1, 2, filenode("x", "zz", 6)),
    "dir-negative-size": field(2, 2, dirnode("x", EMPTY, -1)),
    "dir-symlink": field(3, 2, field(1, 2, b"link") + field(2, 2, b"../target")),
    "dir-wrong-size": field(2, 2, dirnode("sub", sha(leaf), len(leaf) + 1)),
    "ar-complete": field(2, 2, field(1, 2, b"out/hello") + field(2, 2, digest(HELLO, 6))) +
                   field(4, 0, varint(0)) + field(6, 2, digest(WORLD, 6)),
    "ar-missing": field(2, 2, field(1, 2, b"out/gone") + field(2, 2, digest(sha(b"gone"), 4))),
    "ar-inline": field(2, 2, field(1, 2, b"out/x") + field(5, 2, b"inline contents")),
    "ar-tree": field(3, 2, field(1, 2, b"outdir") + field(3, 2, digest(sha(b"nope"), 4))),
    "ar-stderr-missing": field(8, 2, digest(sha(b"err"), 3)),
    "truncated": field(2, 2, dirnode("sub", EMPTY, 0))[:-3],
    "unknown-field": field(15, 0, varint(1)),
}
for name, data in protos.items():
    write("tree", name, b"\x00" + data)
write("tree", "pinned-leaf", b"\x02" + leaf)
for i, (name, body) in enumerate([
        ("team/main", '{"digest":"%s/0","pinned":true}' % EMPTY),
        ("team/main", '{"digest":"%s/0"}' % EMPTY),
        ("x", '{"digest":"%s/6"}' % HELLO),
        ("x", '{"digest":"%s/5"}' % HELLO),
        ("x", '{"digest":"%s","pinned":1}' % EMPTY),
        ("", '{"digest":"%s/0"}' % EMPTY),
        ("a/../b", '{"digest":"%s/0"}' % EMPTY),
        ("x", '{"digest":"%s/-1"}' % EMPTY),
        ("x", "not json")]):
    write("tree", "ref-%02d" % i, b"\x01" + name.encode() + b"\n" + body.encode())

# --- releases: mode 0 names, 1 checksum lists, 2 publish ---
for i, (rel, art) in enumerate([("app", "bin/app.tar"), ("1.0.0-rc1+b2", "a/./b"),
                                 (".hidden", "../x"), ("x" * 129, "SHA256SUMS"), ("a b", "a//b"),
                                 ("", "/abs"), ("v1", "dir/"), ("ok", "é")]):
    write("releases", "name-%02d" % i, b"\x00" + rel.encode() + b"\n" + art.encode())
for i, text in enumerate([
        "%s  app.tar\n%s *bin/tool\n" % (HELLO, WORLD), "%s  app.tar" % HELLO,
        "SHA256 (app.tar) = %s\nSHA256 (a) = b) = %s\n" % (HELLO, WORLD), "\n",
        "%s  ../etc/passwd\n" % HELLO, "SHA256 () = %s\n" % HELLO, "%s  x\n" % HELLO.upper()]):
    write("releases", "list-%02d" % i, b"\x01" + text.encode())
for i, (path, body) in enumerate([
        ("app/1.0", '{"artifacts":[{"name":"empty.txt","digest":"%s/0"}]}' % EMPTY),
        ("app/1.0", '{"artifacts":[{"name":"a","digest":"%s/0"},{"name":"a","digest":"%s/0"}]}' % (EMPTY, EMPTY)),
        ("app/1.1", '{"artifacts":[]}'), ("app", '{"artifacts":[{"name":"x","digest":"%s/0"}]}' % EMPTY),
        ("app/2.0/file", "{}"), ("-app/1", '{"artifacts":[{"name":"x","digest":"%s/0"}]}' % EMPTY),
        ("app/3", '{"artifacts":[{"name":"SHA256SUMS","digest":"%s/0"}]}' % EMPTY),
        ("app/4", '{"artifacts":[{"name":"gone","digest":"%s/4"}]}' % sha(b"gone"))]):
    write("releases", "publish-%02d" % i, b"\x02" + path.encode() + b"\n" + body.encode())

# --- size: eight bytes of a size, then a size string ---
for i, (n, text) in enumerate([
        (0, "500MiB"), (1023, "20GiB"), (1024, "1TB"), (1536, "4096"), (10**6, "1.5 KiB"),
        (2**40, " 2 t "), (2**53, "0.5B"), (2**63, "1e5"), (2**64 - 1, "."), (12345678, "1..2k"),
        (99, "18446744073709551615"), (100 * 2**30, "17179869184GiB"), (5, "-1"), (7, "kb")]):
    write("size", "%02d" % i, struct.pack(">Q", n) + text.encode())

# --- upload: piece byte, shift byte, mode byte (bit 7: 1 MiB limit, else 0-127 bytes; bit 0:
# identity to /cas/ with declared length size-1/size/size+1), then the body ---
def zstd(data, *args):
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, check=True,
                          stdout=subprocess.PIPE).stdout

hello = zstd(b"hello\n")
big = zstd(b"x" * 300000)
skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
no_size = zstd(b"streamed\n", "--no-content-size")
uploads = {
    "one-frame": (7, 0, 0x80, hello),
    "two-frames": (0, 0, 0x80, hello + zstd(b"world\n")),
    "skippable-first": (1, 3, 0x80, skippable + hello),
    "skippable-only": (255, 0, 0x80, skippable),
    "truncated": (3, 0, 0x80, hello[:-2]),
    "trailing-garbage": (255, 7, 0x80, hello + b"\x00\x01"),
    "empty": (0, 0, 0x80, b""),
    "over-limit": (255, 7, 0x08, hello),
    "large-small-limit": (255, 7, 0x40, big),
    "large": (255, 7, 0x80, big),
    "no-content-size": (2, 1, 0x80, no_size),
    "checksum": (255, 7, 0x80, zstd(b"checked\n", "--check")),
    "identity-exact": (255, 7, 0x03, b"plain body"),
    "identity-short": (255, 7, 0x01, b"plain body"),
    "identity-long": (1, 0, 0x05, b"plain body"),
}
for name, (piece, shift, mode, body) in uploads.items():
    write("upload", name, bytes([piece, shift, mode]) + body)
