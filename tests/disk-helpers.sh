# Helpers for the tests/test-disk-*.sh: analyse `nbdinfo --map` output.
# Source after functions.sh.

# map_bytes MAPFILE START END KIND: bytes of KIND ("data" or "hole") in
# [START, END) according to a saved `nbdinfo --map` listing.
map_bytes() {
    python3 - "$@" <<'PY'
import sys
path, start, end, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = 0
for line in open(path):
    f = line.split()
    off, length, desc = int(f[0]), int(f[1]), f[3]
    is_hole = desc.startswith("hole")
    if (kind == "hole") != is_hole:
        continue
    lo, hi = max(off, start), min(off + length, end)
    if hi > lo:
        total += hi - lo
print(total)
PY
}

# nonzero_bytes FILE OFFSET LENGTH: how many bytes in the range are not zero.
nonzero_bytes() {
    python3 - "$@" <<'PY'
import sys
path, off, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = 0
with open(path, "rb") as f:
    f.seek(off)
    while length > 0:
        b = f.read(min(length, 1 << 20))
        if not b:
            break
        n += len(b) - b.count(0)
        length -= len(b)
print(n)
PY
}

# same_bytes A B OFFSET LENGTH: the ranges of two files are identical.
same_bytes() {
    cmp -s <(tail -c +$(($3 + 1)) "$1" | head -c "$4") <(tail -c +$(($3 + 1)) "$2" | head -c "$4")
}

# A fully allocated (not sparse) zero file: a physical disk has no holes,
# so every hole in the map must come from the allocation reader.
make_solid_disk() {
    dd if=/dev/zero of="$1" bs=1M count="$2" status=none
}
