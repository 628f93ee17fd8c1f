#!/usr/bin/env bash
# The disk view over NBD (common/disk/disk-view.c), as the Windows agent
# will serve a physical disk: the GPT and the gaps come from the disk
# image, each partition from its own "volume" file (the shadow copy's
# stand-in, other bytes than the disk holds there), and the clusters a
# recorded FSCTL_GET_VOLUME_BITMAP buffer calls free are holes that read as
# zeroes.  nbdcopy's copy must equal an image assembled with dd; nbdinfo
# --map must show exactly those holes.
# labels: disk
source "$(dirname "$0")/functions.sh"
requires parted nbdcopy nbdinfo python3
SERVE_VIEW=$P2V_BUILD_DIR/tests/serve-view
[ -x "$SERVE_VIEW" ] || skip "$SERVE_VIEW is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))
head -c $((16 * MiB)) /dev/urandom > disk.img
parted -s disk.img mklabel gpt mkpart a ntfs 1MiB 5MiB mkpart b ntfs 6MiB 12MiB 2>/dev/null
head -c $((4 * MiB)) /dev/urandom > vol1.img
head -c $((6 * MiB)) /dev/urandom > vol2.img
sha_before=$(sha256sum disk.img vol1.img vol2.img)

# Volume 1: 1024 clusters of 4 KiB; free: 10-99, 500-599 and the last one.
# The recorded buffer: StartingLcn, BitmapSize (LONGLONG), then the bits.
"$PYTHON" - <<'PY'
import struct
free = set(range(10, 100)) | set(range(500, 600)) | {1023}
bits = bytearray(b'\xff' * 128)
for c in free:
    bits[c // 8] &= ~(1 << (c % 8)) & 0xff
open("bitmap1", "wb").write(struct.pack("<qq", 0, 1024) + bits)
PY

port=$(free_port)
"$SERVE_VIEW" "127.0.0.1:$port" disk.img 4096 \
    "1:$((1 * MiB)):$((4 * MiB)):vol1.img:bitmap1" "2:$((6 * MiB)):$((6 * MiB)):vol2.img" \
    > serve.log 2>&1 &
pid=$!
stop_view() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
cleanup stop_view
wait_for_port "$port" 20 || { cat serve.log >&2; exit 1; }
url="nbd://127.0.0.1:$port/disk.img"

nbdcopy "$url" out.img
cp disk.img expected.img
dd if=vol1.img of=expected.img bs=1M seek=1 conv=notrunc status=none
dd if=vol2.img of=expected.img bs=1M seek=6 conv=notrunc status=none
for run in 10:90 500:100 1023:1; do
    dd if=/dev/zero of=expected.img bs=4096 seek=$((256 + ${run%:*})) count=${run#*:} \
        conv=notrunc status=none
done
cmp out.img expected.img || fail "the copy is not the disk's table and gaps plus the volumes"
cmp -s out.img disk.img && fail "the copy is the plain disk"
parted -s out.img unit MiB print | grep -Eq '^ 2 +6\.00MiB +12\.0MiB' \
    || fail "the copy lost the disk's partition table"

nbdinfo --map "$url" > map.txt
holes=$(awk '$4 ~ /^hole/ { printf "%d+%d ", $1, $2 }' map.txt)
want="$(( (256 + 10) * 4096 ))+$((90 * 4096)) $(( (256 + 500) * 4096 ))+$((100 * 4096)) $(( (256 + 1023) * 4096 ))+4096 "
[ "$holes" = "$want" ] || { cat map.txt >&2; fail "holes are '$holes', expected '$want'"; }

[ "$(sha256sum disk.img vol1.img vol2.img)" = "$sha_before" ] || fail "a source changed"
pass "disk view: table and gaps from the disk, partitions from the volumes, free clusters as holes"
