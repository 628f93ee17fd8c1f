#!/usr/bin/env bash
# The qcow2 writer against qemu's own tools: reference raw disks (random
# and compressible data, written zeroes, holes, odd sizes, a tiny and an
# empty disk, a 1 GiB sparse one) go through write-image with several
# threads in a shuffled order, with and without --compress, at 64K, 512
# and 2M clusters; then qemu-img check (no errors, no leaks), compare
# (identical), info (qcow2, compat 1.1, virtual size), map (no data where
# the reference reads as zeroes) and the file size must all agree.
# SPDX-License-Identifier: GPL-3.0-or-later
# labels: slow
source "$(dirname "$0")/functions.sh"
requires qemu-img qemu-io

W=$P2V_BUILD_DIR/tests/write-image
[ -x "$W" ] || fail "$W is not built"
cd "$TEST_DIR"

# make_ref FILE SIZE SEGMENTS...: a sparse reference of SIZE bytes with
# segments OFFSET:LENGTH:KIND, KIND = random | text (compressible) |
# zero (written zeroes, allocated but reading as zeroes) | half (random
# first half, zeroes second half).  Everything else is a hole.
make_ref() {
    "$PYTHON" - "$@" <<'EOF'
import os, random, sys
path, size, segs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rng = random.Random(path)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(300)]
with open(path, "wb") as f:
    f.truncate(size)
    for seg in segs:
        off, length, kind = seg.split(":")
        off, length = int(off), int(length)
        if kind == "random":
            data = os.urandom(length)
        elif kind == "text":
            out = bytearray()
            while len(out) < length:
                out += rng.choice(words) + b" "
            data = bytes(out[:length])
        elif kind == "zero":
            data = bytes(length)
        elif kind == "half":
            data = os.urandom(length // 2) + bytes(length - length // 2)
        else:
            raise SystemExit("bad kind " + kind)
        f.seek(off)
        f.write(data)
EOF
}

K=1024; M=$((1024 * 1024))
make_ref mixed.raw $((16 * M + 4096 + 512)) \
    0:$((64 * K)):random $((64 * K)):$((64 * K)):zero $((200 * K)):$((300 * K)):text \
    $((1 * M)):$((1 * M)):random $((2 * M + 4096)):$((8 * K)):random \
    $((3 * M)):$((2 * M)):zero $((5 * M)):$((3 * M)):text $((9 * M)):$((1 * M)):half \
    $((12 * M + 512)):512:random $((16 * M)):$((4096 + 512)):text
make_ref tiny.raw $((64 * K)) 0:$((64 * K)):text
make_ref small.raw 4096 0:4096:random
make_ref empty.raw $((64 * M))
make_ref nothing.raw 0
make_ref odd.raw 10000001 0:$((1 * M)):random $((9 * M)):$((1000001 - 48577)):text
# ~1 GiB sparse disk, 64 scattered extents of 16K..1M.
segs=()
for ((i = 0; i < 64; i++)); do
    segs+=("$(( (i * 16 + (i * 7919) % 13) * M + (i % 5) * 4096 )):$(( (16 << (i % 7)) * K )):$([ $((i % 3)) -eq 0 ] && echo random || echo text)")
done
make_ref sparse.raw $((1024 * M + 12288)) "${segs[@]}"

# check_image REFERENCE OUTPUT CLUSTER_SIZE: every oracle on one output.
check_image() {
    local ref=$1 out=$2 cs=$3
    qemu-img check "$out" >check.out 2>&1 || { cat check.out >&2; fail "qemu-img check $out"; }
    grep -q "No errors were found" check.out || { cat check.out >&2; fail "check $out: errors"; }
    ! grep -qi "leak" check.out || { cat check.out >&2; fail "check $out: leaks"; }
    qemu-img compare -q "$ref" "$out" || fail "compare $ref $out: differ"
    qemu-img info --output=json "$out" >info.json
    qemu-img map --output=json "$out" >map.json
    "$PYTHON" - "$ref" "$out" "$cs" info.json map.json <<'EOF' || fail "$out: info/map/size check (above)"
import json, os, sys
ref, out, cs, info, mapf = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
info = json.load(open(info))
size = os.path.getsize(ref)
def bad(msg):
    print("%s: %s" % (out, msg), file=sys.stderr); sys.exit(1)
if info["format"] != "qcow2": bad("format " + info["format"])
if info["format-specific"]["data"]["compat"] != "1.1": bad("compat not 1.1")
if info["virtual-size"] != (size + 511) // 512 * 512: bad("virtual size %d" % info["virtual-size"])
if info["cluster-size"] != cs: bad("cluster size %d" % info["cluster-size"])
# Reference clusters that read as zeroes must not be data in the output.
nonzero = set()
with open(ref, "rb") as f:
    pos = 0
    while pos < size:
        try:
            d = os.lseek(f.fileno(), pos, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(f.fileno(), d, os.SEEK_HOLE)
        c = d // cs
        while c * cs < h:
            f.seek(c * cs)
            if any(f.read(cs)):
                nonzero.add(c)
            c += 1
        pos = max(h, c * cs)
for e in json.load(open(mapf)):
    if e["data"]:
        for c in range(e["start"] // cs, (e["start"] + e["length"] + cs - 1) // cs):
            if c not in nonzero:
                bad("map has data at %d where the reference reads as zeroes" % (c * cs))
# File size: the data clusters plus a little metadata, nothing more.
l2s = len({c // (cs // 8) for c in nonzero})
l1c = -(-(-(-size // cs) // (cs // 8)) * 8 // cs)
refblocks = (len(nonzero) + l2s + l1c + 4) // (cs // 2) + 1
meta = l2s + l1c + 3 + refblocks + -(-refblocks * 8 // cs)
if os.path.getsize(out) > (len(nonzero) + meta) * cs:
    bad("file is %d bytes, more than %d data + %d metadata clusters"
        % (os.path.getsize(out), len(nonzero), meta))
EOF
}

run() {   # run REFERENCE CLUSTER_SIZE ARGS...
    local ref=$1 cs=$2; shift 2
    local out=out-$ref-$cs.qcow2
    rm -f "$out"
    "$W" qcow2 "$out" "$ref" --cluster-size "$cs" --threads 4 --shuffle "$@" >/dev/null ||
        fail "write-image qcow2 $ref --cluster-size $cs $*"
    check_image "$ref" "$out" "$cs"
    OUT=$out
}

for cs in 65536 512 2097152; do
    for ref in mixed tiny small empty nothing odd; do
        run $ref.raw $cs
        plain_size=$(stat -c %s "$OUT")
        run $ref.raw $cs --compress
        if [ $ref = mixed ] || [ $ref = tiny ]; then
            qemu-img check "$OUT" | grep -Eq ' [1-9][0-9.]*% compressed clusters' ||
                fail "$OUT: no compressed clusters"
            [ $ref = tiny ] || [ "$(stat -c %s "$OUT")" -lt "$plain_size" ] ||
                fail "$OUT: --compress did not shrink it"
        fi
    done
    pass "cluster size $cs"
done

run sparse.raw 65536
[ "$(stat -c %s "$OUT")" -lt $((64 * M)) ] || fail "sparse 1 GiB disk gave a big file"
run sparse.raw 65536 --compress
run sparse.raw 2097152
run sparse.raw 512 --request-size 64K
pass "1 GiB sparse disk"

# Requests of many clusters (coalesced writes, compression in batches).
run mixed.raw 65536 --threads 1 --request-size 8M
run mixed.raw 65536 --compress --request-size 16M
run mixed.raw 512 --compress --request-size 16M
OUT=out-seq.qcow2; rm -f $OUT
"$W" qcow2 $OUT mixed.raw --request-size 8M >/dev/null || fail "sequential write"
check_image mixed.raw $OUT 65536

# A one-table L2 cache: tables go out early and are patched in place.
run mixed.raw 512 --l2-cache 1
run mixed.raw 512 --l2-cache 1 --compress
run sparse.raw 65536 --l2-cache 1 --request-size 64K
pass "L2 tables written early"

# A reader other than qemu-img's compare: qemu-io sees the patterns.
qemu-io -f qcow2 -c "read -P 0 $((3 * M)) $((2 * M))" -c "read -P 0 $((13 * M)) $((1 * M))" \
    out-mixed.raw-65536.qcow2 >/dev/null || fail "qemu-io read of zeroes"

# qemu's own allocator trusts our refcounts: writes into a hole and over
# existing (plain and compressed) clusters leave a clean image.
for z in "" --compress; do
    run mixed.raw 65536 $z
    qemu-io -f qcow2 -c "write -P 0x5a $((14 * M)) $((1 * M))" -c "write -P 0x6b 0 $((512 * K))" \
        -c "write -P 0x7c $((16 * M)) 4608" "$OUT" >/dev/null || fail "qemu-io write to $OUT"
    qemu-img check "$OUT" >check.out 2>&1 || { cat check.out >&2; fail "check after qemu writes to $OUT"; }
    qemu-io -f qcow2 -c "read -P 0x5a $((14 * M)) $((1 * M))" -c "read -P 0x6b 0 $((512 * K))" \
        -c "read -P 0x7c $((16 * M)) 4608" -c "read -P 0 $((3 * M)) $((2 * M))" \
        "$OUT" >/dev/null || fail "qemu-io read back from $OUT"
done
pass "qemu writes into the images"

# Interrupted before finish: no header, so no valid qcow2 image.
rm -f cut.qcow2
"$W" qcow2 cut.qcow2 mixed.raw --threads 2 --shuffle --no-finish >/dev/null || fail "--no-finish run"
fmt=$(qemu-img info --output=json cut.qcow2 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["format"])')
[ "$fmt" != qcow2 ] || fail "an unfinished image reads as qcow2"
pass "unfinished image is not qcow2"

# Failures: one clear line each, non-zero exit.
expect_error "cannot create .*exists.qcow2: File exists" \
    bash -c "touch exists.qcow2 && '$W' qcow2 exists.qcow2 mixed.raw"
expect_error "cluster size 1000 is not a power of two" "$W" qcow2 bad.qcow2 mixed.raw --cluster-size 1000
expect_error "cluster size 4194304 is not a power of two" "$W" qcow2 bad.qcow2 mixed.raw --cluster-size 4M
# Virtual size beyond qemu's 32 MiB L1 limit at 512-byte clusters.
truncate -s 200G huge.raw
expect_error "too large for 512-byte qcow2 clusters" "$W" qcow2 bad.qcow2 huge.raw --cluster-size 512
# A full disk (here: the file size limit): the error names the file.
rm -f full.qcow2
expect_error "write full.qcow2 at offset [0-9]+: File too large" \
    bash -c "trap '' XFSZ; ulimit -f 2048; exec '$W' qcow2 full.qcow2 mixed.raw --threads 2"
pass "errors"
