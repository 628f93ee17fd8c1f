#!/bin/bash
# p2v-convert copy checks the free space before the first byte is
# written: the source's used bytes (block status) against the output's
# filesystem (a real 4 MiB tmpfs, for 7.4 MiB of random data), one line
# saying how much it needs, exit 10, and no file left.  A filesystem with
# room copies as before.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
requires nbdkit qemu-img
[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"

src=$TEST_DIR/src.img
make_source "$src" >/dev/null       # 64 MiB, about 10 MiB not reading as zero
port=$(free_port)
start_nbdkit "$port" file "$src"
uri=nbd://127.0.0.1:$port/
used=$(nbd_data_total "$uri")
[ "$used" -gt $((9 << 20)) ] || fail "the source has only $used bytes of data"

small=$TEST_DIR/small
mkdir "$small"
mount -t tmpfs -o size=4m p2v-test "$small" || skip "cannot mount a tmpfs"
unmount_small() { umount "$TEST_DIR/small"; }
cleanup unmount_small

# refused FORMAT: copy into the 4 MiB tmpfs fails at once, nothing written.
refused() {
    local out=$small/out.$1 start end
    start=$(date +%s%N)
    expect_exit 10 "^p2v-convert: not enough space in $small for $out: need [0-9.]+ MiB \([0-9.]+ MiB of used data in the source, plus metadata\), [0-9.]+ MiB free; free space or write the output elsewhere$" \
        "$P2V_CONVERT" copy "$uri" -o "$out"
    end=$(date +%s%N)
    [ $(((end - start) / 1000000)) -lt 10000 ] || fail "$1: the refusal took more than 10 s"
    [ -z "$(ls -A "$small")" ] || fail "$1: files left in the small filesystem: $(ls -A "$small")"
}
refused raw
refused qcow2
refused vmdk
pass "too little space: refused before writing"

# What the line says it needs covers the data.
need=$(sed -n 's/.*need \([0-9.]*\) MiB.*/\1/p' "$TEST_DIR/err")
awk -v n="$need" -v u="$used" 'BEGIN { exit !(n * 1048576 >= u) }' ||
    fail "needs $need MiB, less than the $used bytes of data"
pass "the need covers the used bytes"

# Compressed output may fit: a warning, and the copy is tried.
rc=0
"$P2V_CONVERT" copy "$uri" -o "$small/out.qcow2" --compress --progress=none \
    >/dev/null 2>"$TEST_DIR/err" || rc=$?
grep -q "^p2v-convert: warning: $small/out.qcow2 may not fit in $small: " "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "--compress: no warning"; }
grep -q "not enough space" "$TEST_DIR/err" && fail "--compress: refused up front"
[ "$rc" -eq 0 ] || [ "$rc" -eq 7 ] || { cat "$TEST_DIR/err" >&2; fail "--compress: exit $rc"; }
rm -f "$small"/out.qcow2*
pass "--compress: a warning, not a refusal"

# Room enough: a 24 MiB tmpfs takes the copy, identical.
umount "$small"
mount -t tmpfs -o size=24m p2v-test "$small" || fail "cannot mount a tmpfs again"
"$P2V_CONVERT" copy "$uri" -o "$small/out.raw" --progress=none >/dev/null ||
    fail "copy into a filesystem with room failed"
cmp "$src" "$small/out.raw" || fail "the copy differs"
pass "room enough: copied"
