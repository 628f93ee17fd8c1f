#!/bin/bash
# The VMDK writers (monolithicSparse and streamOptimized) against qemu-img,
# an oracle nobody on the team wrote: reference raw images are written
# through each writer from two threads in shuffled order, then
#   qemu-img check      no errors
#   qemu-img compare    identical to the reference
#   qemu-img info       format vmdk, the right create type, compressed
#   qemu-img map        holes where the reference has zero grains (sparse)
#   qemu-img convert    stream back to raw equals the reference
# plus the embedded descriptor's fields and, for streams, a walk of the
# whole file by a small Python parser (markers, grain order, footer,
# end-of-stream marker).
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires qemu-img
[ -x "$PYTHON" ] || skip "$PYTHON is missing"

WRITE=$P2V_BUILD_DIR/tests/write-image
[ -x "$WRITE" ] || fail "$WRITE is not built"
GRAIN=65536

# ---- reference images ----
mk() { echo "$TEST_DIR/$1.raw"; }
# put FILE OFFSET LENGTH [zero]: random (or explicit zero) bytes at OFFSET.
put() {
    local src=/dev/urandom
    [ "${4:-}" = zero ] && src=/dev/zero
    head -c "$3" "$src" | dd of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none
}

# Mixed: random data, explicit zero blocks, holes, partial grains, data on
# both sides of a grain table boundary (32 MiB), size not a multiple of
# the grain.
mixed=$(mk mixed)
truncate -s $((40 * 1024 * 1024 + 12345 * 512)) "$mixed"
put "$mixed" 0 $((3 * 1024 * 1024 + 4096))
put "$mixed" $((1024 * 1024)) $((256 * 1024)) zero
put "$mixed" $((5 * 1024 * 1024 + 512)) 1000
put "$mixed" $((32 * 1024 * 1024 - 3 * GRAIN)) $((6 * GRAIN))
put "$mixed" $((36 * 1024 * 1024)) $((GRAIN)) zero
put "$mixed" $((40 * 1024 * 1024)) $((12345 * 512))

# Size not a multiple of 512 (capacity rounds up), dense.
odd=$(mk odd)
head -c 5000001 /dev/urandom >"$odd"

# Tiny: one sector; and one grain plus one sector.
tiny=$(mk tiny)
head -c 512 /dev/urandom >"$tiny"
small=$(mk small)
head -c $((GRAIN + 512)) /dev/urandom >"$small"

# Compressible text-like data, so deflate really shrinks grains.
text=$(mk text)
for i in $(seq 1 20000); do echo "line $i of a compressible reference image"; done >"$text"
truncate -s 2M "$text"

# All zero data (no holes): every grain is written as zero.
zeros=$(mk zeros)
head -c $((3 * 1024 * 1024)) /dev/zero >"$zeros"

# ~1 GiB sparse, data scattered, including the last grain.
big=$(mk big)
truncate -s 1G "$big"
for off in 0 $((7 * 1024 * 1024 + GRAIN)) $((100 * 1024 * 1024)) $((511 * 1024 * 1024)) \
           $((800 * 1024 * 1024 - GRAIN)) $((1024 * 1024 * 1024 - GRAIN)); do
    put "$big" "$off" $((GRAIN + 4096))
done
truncate -s 1G "$big"

refs="$mixed $odd $tiny $small $text $zeros $big"

# ---- checks ----

# check_info IMAGE CREATE-TYPE: qemu-img info --output=json.
check_info() {
    qemu-img info --output=json "$1" >"$TEST_DIR/info.json"
    "$PYTHON" - "$TEST_DIR/info.json" "$2" <<'EOF' || fail "qemu-img info of $1"
import json, sys
info = json.load(open(sys.argv[1]))
want = sys.argv[2]
assert info["format"] == "vmdk", info["format"]
data = info["format-specific"]["data"]
assert data["create-type"] == want, data["create-type"]
assert data["parent-cid"] == 0xffffffff, data["parent-cid"]
assert data["cid"] != 0xffffffff
ext = data["extents"][0]
assert ext["cluster-size"] == 65536, ext
if want == "streamOptimized":
    assert ext.get("compressed") is True, ext
else:
    assert not ext.get("compressed", False), ext
EOF
}

# check_descriptor IMAGE CREATE-TYPE ADAPTER HEADS CYLINDERS
check_descriptor() {
    local img=$1 type=$2 adapter=$3 heads=$4 cyl=$5 desc sectors
    desc=$(dd if="$img" bs=512 skip=1 count=20 status=none | tr -d '\0')
    sectors=$(( ($(stat -c %s "$ref") + 511) / 512 ))
    grep -qx 'version=1' <<<"$desc" || fail "$img: no version=1"
    grep -qx "createType=\"$type\"" <<<"$desc" || fail "$img: createType"
    grep -qx 'parentCID=ffffffff' <<<"$desc" || fail "$img: parentCID"
    grep -Eqx 'CID=[0-9a-f]{8}' <<<"$desc" || fail "$img: CID format"
    grep -qx 'CID=ffffffff' <<<"$desc" && fail "$img: CID is ffffffff"
    grep -qx "RW $sectors SPARSE \"$(basename "$img")\"" <<<"$desc" || fail "$img: extent line"
    grep -qx "ddb.adapterType = \"$adapter\"" <<<"$desc" || fail "$img: adapterType"
    grep -qx "ddb.geometry.heads = \"$heads\"" <<<"$desc" || fail "$img: heads"
    grep -qx 'ddb.geometry.sectors = "63"' <<<"$desc" || fail "$img: sectors"
    grep -qx "ddb.geometry.cylinders = \"$cyl\"" <<<"$desc" || fail "$img: cylinders (want $cyl)"
    grep -qx 'ddb.virtualHWVersion = "4"' <<<"$desc" || fail "$img: virtualHWVersion"
}

# check_map IMAGE REFERENCE: every grain holding data in the reference is
# allocated, every all-zero grain is a hole.
check_map() {
    qemu-img map --output=json "$1" >"$TEST_DIR/map.json"
    "$PYTHON" - "$TEST_DIR/map.json" "$2" <<'EOF' || fail "qemu-img map of $1 does not match $2"
import json, os, sys
G = 65536
m = json.load(open(sys.argv[1]))
fd = os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(fd).st_size
# Grains with data in the reference (skipping holes with SEEK_DATA).
want = set()
pos = 0
while pos < size:
    try:
        pos = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, pos, os.SEEK_HOLE)
    g = pos // G
    while g * G < end:
        if os.pread(fd, G, g * G).strip(b"\0"):
            want.add(g)
        g += 1
    pos = g * G
got = set()
for e in m:
    assert e["start"] % G == 0, e
    if e["data"]:
        assert not e["zero"], e
        got.update(range(e["start"] // G, (e["start"] + e["length"] + G - 1) // G))
if got != want:
    print("allocated, not data:", sorted(got - want)[:10], "data, not allocated:",
          sorted(want - got)[:10], file=sys.stderr)
    sys.exit(1)
EOF
}

# check_stream IMAGE: parse the file from start to end.
check_stream() {
    "$PYTHON" - "$1" <<'EOF' || fail "stream layout of $1"
import struct, sys, zlib
S, G = 512, 65536
data = open(sys.argv[1], "rb").read()
assert len(data) % S == 0, "file length not a multiple of a sector"
HDR = "<4sIIQQQQIQQQB4sH"
def header(off):
    (magic, version, flags, capacity, grain, doff, dsize, ngte, rgd, gd, overhead,
     unclean, nl, comp) = struct.unpack_from(HDR, data, off)
    assert magic == b"KDMV", magic
    assert version == 3 and flags == 0x30001 and comp == 1, (version, hex(flags), comp)
    assert grain == 128 and ngte == 512 and doff == 1 and dsize == 20 and rgd == 0
    assert nl == b"\n \r\n" and unclean == 0
    return capacity, gd, overhead
capacity, gd0, overhead = header(0)
assert gd0 == 0xffffffffffffffff, "first header must say GD_AT_END"
# End of stream marker: the last sector, all zero (numSectors 0, size 0, type 0).
assert data[-S:] == bytes(S), "no end-of-stream marker"
# Footer marker (numSectors 1, size 0, type 3), then the footer.
n, size, typ = struct.unpack_from("<QII", data, len(data) - 3 * S)
assert (n, size, typ) == (1, 0, 3), ("footer marker", n, size, typ)
fcap, gd, foverhead = header(len(data) - 2 * S)
assert fcap == capacity and foverhead == overhead and gd != gd0
grains = (capacity + 127) // 128
ngt = (grains + 511) // 512
gd_sectors = (ngt * 4 + S - 1) // S
n, size, typ = struct.unpack_from("<QII", data, (gd - 1) * S)
assert (n, size, typ) == (gd_sectors, 0, 2), ("GD marker", n, size, typ)
assert gd + gd_sectors == len(data) // S - 3, "GD not right before the footer marker"
gdir = struct.unpack_from("<%dI" % ngt, data, gd * S)
# Walk everything between the overhead and the GD marker.
pos, last_lba, grain_at, tables = overhead * S, -1, {}, {}
while pos < (gd - 1) * S:
    lba, size = struct.unpack_from("<QI", data, pos)
    if size:
        assert lba > last_lba and lba % 128 == 0, ("grain order", lba, last_lba)
        last_lba = lba
        raw = zlib.decompress(data[pos + 12: pos + 12 + size])
        assert len(raw) == G and raw.strip(b"\0"), ("grain size or all-zero grain", lba)
        grain_at[pos // S] = lba
        pos += (12 + size + S - 1) // S * S
    else:
        n, _, typ = struct.unpack_from("<QII", data, pos)
        assert typ == 1 and n == 4, ("unexpected marker", typ, n, pos)
        tables[pos // S + 1] = struct.unpack_from("<512I", data, pos + S)
        pos += (1 + n) * S
assert pos == (gd - 1) * S
# Every GD entry names a GT marker's table; every GT entry names a grain
# marker with the right LBA; every grain is named once.
named = 0
for i, t in enumerate(gdir):
    if t == 0:
        continue
    assert t in tables, ("GD entry to nowhere", i, t)
    for j, e in enumerate(tables[t]):
        if e:
            assert grain_at.get(e) == (i * 512 + j) * 128, ("GT entry", i, j, e)
            named += 1
assert named == len(grain_at) and len(tables) == sum(1 for t in gdir if t)
EOF
}

# ---- the matrix ----
for ref in $refs; do
    name=$(basename "$ref" .raw)
    size=$(stat -c %s "$ref")
    for fmt in vmdk vmdk-stream; do
        for rs in 64K 1M 3M; do
            out=$TEST_DIR/$name-$fmt-$rs.vmdk
            "$WRITE" "$fmt" "$out" "$ref" --threads 2 --shuffle --request-size "$rs" >"$TEST_DIR/log" 2>&1 ||
                { cat "$TEST_DIR/log" >&2; fail "write-image $fmt $name --request-size $rs"; }
            qemu-img check "$out" >"$TEST_DIR/log" 2>&1 || { cat "$TEST_DIR/log" >&2; fail "qemu-img check $out"; }
            qemu-img compare -q "$ref" "$out" 2>/dev/null || fail "qemu-img compare $ref $out"
            if [ $fmt = vmdk ]; then
                check_info "$out" monolithicSparse
                check_map "$out" "$ref"
            else
                check_info "$out" streamOptimized
                check_stream "$out"
                qemu-img convert -O raw "$out" "$TEST_DIR/back.raw"
                cmp -n "$size" "$ref" "$TEST_DIR/back.raw" || fail "$out converted back differs from $ref"
                rm -f "$TEST_DIR/back.raw"
            fi
            [ $rs = 1M ] || rm -f "$out"
        done
    done
    pass "$name ($size bytes)"
done

# ---- descriptor fields ----
ref=$big
cyl_scsi=$(( 2097152 / (255 * 63) ))
cyl_ide=$(( 2097152 / (16 * 63) ))
check_descriptor "$TEST_DIR/big-vmdk-1M.vmdk" monolithicSparse lsilogic 255 $cyl_scsi
check_descriptor "$TEST_DIR/big-vmdk-stream-1M.vmdk" streamOptimized lsilogic 255 $cyl_scsi
for adapter in ide buslogic pvscsi lsisas1068; do
    for fmt in vmdk vmdk-stream; do
        out=$TEST_DIR/adapter-$adapter-$fmt.vmdk
        "$WRITE" "$fmt" "$out" "$ref" --adapter-type $adapter >/dev/null || fail "write-image --adapter-type $adapter"
        type=monolithicSparse; [ $fmt = vmdk ] || type=streamOptimized
        if [ $adapter = ide ]; then
            check_descriptor "$out" $type ide 16 $cyl_ide
        else
            check_descriptor "$out" $type $adapter 255 $cyl_scsi
        fi
        rm -f "$out"
    done
done
# IDE disks: at most 16383 cylinders (a 10 GiB disk would have 20805).
ref=$(mk huge)
truncate -s 10G "$ref"
for fmt in vmdk vmdk-stream; do
    out=$TEST_DIR/huge-$fmt.vmdk
    "$WRITE" "$fmt" "$out" "$ref" --adapter-type ide >/dev/null || fail "write-image $fmt 10G"
    type=monolithicSparse; [ $fmt = vmdk ] || type=streamOptimized
    check_descriptor "$out" $type ide 16 16383
    qemu-img check "$out" >/dev/null || fail "qemu-img check $out"
    qemu-img compare -q "$ref" "$out" || fail "qemu-img compare $out"
    [ "$(qemu-img map --output=json "$out" | "$PYTHON" -c 'import json,sys; print(sum(e["data"] for e in json.load(sys.stdin)))')" = 0 ] ||
        fail "$out: an all-hole disk has data"
    rm -f "$out"
done
# A tiny disk still says one cylinder.
ref=$tiny
"$WRITE" vmdk "$TEST_DIR/t.vmdk" "$tiny" >/dev/null
check_descriptor "$TEST_DIR/t.vmdk" monolithicSparse lsilogic 255 1
pass "descriptor fields"

# ---- errors: one clear line each ----
expect_error "cannot create $TEST_DIR/t.vmdk: File exists" "$WRITE" vmdk "$TEST_DIR/t.vmdk" "$tiny"
: >"$TEST_DIR/empty.raw"
expect_error "empty.*0 byte" "$WRITE" vmdk "$TEST_DIR/e.vmdk" "$TEST_DIR/empty.raw"
expect_error "empty.*0 byte" "$WRITE" vmdk-stream "$TEST_DIR/e.vmdk" "$TEST_DIR/empty.raw"
expect_error "unknown vmdk adapter type scsi" "$WRITE" vmdk "$TEST_DIR/a.vmdk" "$tiny" --adapter-type scsi
truncate -s 3T "$TEST_DIR/3t.raw"
expect_error "more than the 2 TiB" "$WRITE" vmdk-stream "$TEST_DIR/b.vmdk" "$TEST_DIR/3t.raw"
pass "errors"
