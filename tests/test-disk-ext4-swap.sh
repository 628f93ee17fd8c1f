#!/usr/bin/env bash
# ext4 and Linux swap on GPT: ext4's free blocks (with deleted data in
# them) and the swap body are holes, the swap header is kept, every used
# ext4 block reaches the copy intact (e2image -ra is the oracle).
# labels: disk
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/disk-helpers.sh"
requires parted mkfs.ext4 debugfs dumpe2fs e2image mkswap nbdinfo qemu-img python3
[ -x "$P2V_AGENT" ] || skip "$P2V_AGENT is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))
P1_START=$((1 * MiB)); P1_END=$((129 * MiB))
P2_START=$((129 * MiB)); P2_END=$((191 * MiB))
make_solid_disk disk.img 192
parted -s disk.img mklabel gpt mkpart root ext4 1MiB 129MiB mkpart swap linux-swap 129MiB 191MiB 2>/dev/null

mkdir -p root/etc root/data
echo "hello from the source" > root/etc/motd
head -c $((3 * MiB)) /dev/urandom > root/data/keep.bin
head -c $((40 * MiB)) /dev/urandom > root/data/garbage.bin
dd if=/dev/zero of=part1.img bs=1M count=128 status=none
mkfs.ext4 -q -F -L rootfs -d root part1.img
debugfs -w -R "rm /data/garbage.bin" part1.img 2>/dev/null   # its blocks keep their data
dd if=part1.img of=disk.img bs=1M seek=1 conv=notrunc status=none
dd if=/dev/zero of=part2.img bs=1M count=62 status=none
mkswap -L swapper part2.img >/dev/null 2>&1
head -c $((61 * MiB)) /dev/urandom | dd of=part2.img bs=1M seek=1 conv=notrunc status=none  # stale swap pages
dd if=part2.img of=disk.img bs=1M seek=129 conv=notrunc status=none

bs=$(dumpe2fs -h part1.img 2>/dev/null | awk -F: '/^Block size/ { print $2 + 0 }')
blocks=$(dumpe2fs -h part1.img 2>/dev/null | awk -F: '/^Block count/ { print $2 + 0 }')
free_blocks=$(dumpe2fs -h part1.img 2>/dev/null | awk -F: '/^Free blocks/ { print $2 + 0 }')
first=$(dumpe2fs -h part1.img 2>/dev/null | awk -F: '/^First block/ { print $2 + 0 }')
echo "e2fsprogs: block $bs, $blocks blocks, $free_blocks free, first data block $first"

sha_before=$(sha256sum disk.img)
mtime_before=$(stat -c %Y.%y disk.img)
port=$(free_port)
start_agent "$port" -v disk.img
url="nbd://127.0.0.1:$port/disk.img"
nbdinfo --map "$url" > map.txt

holes=$(map_bytes map.txt $P1_START $P1_END hole)
echo "map: ext4 holes $holes bytes, free blocks $((free_blocks * bs)) bytes"
[ "$holes" -eq $((free_blocks * bs)) ] || fail "ext4 holes differ from dumpe2fs's free blocks"
swap_holes=$(map_bytes map.txt $P2_START $P2_END hole)
[ "$swap_holes" -eq $((P2_END - P2_START - 4096)) ] || fail "swap holes: $swap_holes"
[ "$(map_bytes map.txt $P2_START $((P2_START + 4096)) data)" -eq 4096 ] || fail "swap header is not data"
[ "$(map_bytes map.txt 0 $P1_START hole)" -eq 0 ] || fail "holes in the GPT area"
[ "$(map_bytes map.txt $P2_END $((192 * MiB)) hole)" -eq 0 ] || fail "holes in the backup GPT area"
grep -q 'partition 1: ext4 "rootfs"' "$TEST_DIR/agent-$port.log" || fail "no ext4 line in the agent log"
grep -q 'partition 2: linux-swap "swapper"' "$TEST_DIR/agent-$port.log" || fail "no swap line in the agent log"

qemu-img convert -f raw -O raw "$url" copy.raw
dd if=copy.raw of=copy-part1.img bs=1M skip=1 count=128 status=none
e2image -ra part1.img expected.raw 2>/dev/null
# e2image leaves out the backup superblocks and group descriptors, which
# are used blocks: take those from the source.
dumpe2fs part1.img 2>/dev/null |
    sed -n 's/.*Backup superblock at \([0-9]*\), Group descriptors at \([0-9]*\)-\([0-9]*\).*/\1 \3/p' |
    while read -r from to; do
        dd if=part1.img of=expected.raw bs="$bs" skip="$from" seek="$from" count=$((to - from + 1)) \
           conv=notrunc status=none
    done
cmp expected.raw <(head -c "$(stat -c %s expected.raw)" copy-part1.img) ||
    fail "the copy's ext4 differs from e2image's image of the used blocks"
e2fsck -fn copy-part1.img >/dev/null 2>&1 || fail "e2fsck finds the copied ext4 damaged"
debugfs -R "cat /data/keep.bin" copy-part1.img 2>/dev/null | cmp - root/data/keep.bin || fail "keep.bin differs"
same_bytes disk.img copy.raw $P2_START 4096 || fail "swap header differs"
[ "$(nonzero_bytes copy.raw $((P2_START + 4096)) $((P2_END - P2_START - 4096)))" -eq 0 ] ||
    fail "swap body was sent"
same_bytes disk.img copy.raw 0 $P1_START || fail "GPT differs"
same_bytes disk.img copy.raw $P2_END $((1 * MiB)) || fail "backup GPT differs"

[ "$(sha256sum disk.img)" = "$sha_before" ] || fail "disk.img changed"
[ "$(stat -c %Y.%y disk.img)" = "$mtime_before" ] || fail "disk.img mtime changed"
pass "ext4+swap: $holes + $swap_holes bytes not sent, used blocks identical"
