#!/usr/bin/env bash
# Filesystems that cannot be read: a corrupt NTFS boot sector, an ext4
# with a damaged superblock, a partition of random bytes.  The agent still
# serves, warns once per damaged filesystem, sends all of it (no holes) and
# the copy is identical to the source.
# labels: disk
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/disk-helpers.sh"
requires parted mkntfs mkfs.ext4 nbdinfo qemu-img python3
[ -x "$P2V_AGENT" ] || skip "$P2V_AGENT is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))
make_solid_disk disk.img 128
parted -s disk.img mklabel msdos mkpart primary ntfs 1MiB 41MiB \
    mkpart primary ext4 41MiB 81MiB mkpart primary 81MiB 127MiB 2>/dev/null

# 1: NTFS whose boot sector says 3 bytes per sector (OEM id still "NTFS").
dd if=/dev/zero of=p1.img bs=1M count=40 status=none
mkntfs -Q -F -q -p 2048 p1.img 2>/dev/null
printf '\x03\x00' | dd of=p1.img bs=1 seek=11 conv=notrunc status=none
dd if=p1.img of=disk.img bs=1M seek=1 conv=notrunc status=none
# 2: ext4 whose superblock claims a 2^40-byte block size (magic intact).
dd if=/dev/zero of=p2.img bs=1M count=40 status=none
mkfs.ext4 -q -F p2.img
printf '\x1e\x00\x00\x00' | dd of=p2.img bs=1 seek=$((1024 + 24)) conv=notrunc status=none
dd if=p2.img of=disk.img bs=1M seek=41 conv=notrunc status=none
# 3: random bytes: unknown contents, sent without a warning.
head -c $((46 * MiB)) /dev/urandom | dd of=disk.img bs=1M seek=81 conv=notrunc status=none

sha_before=$(sha256sum disk.img)
port=$(free_port)
start_agent "$port" disk.img
url="nbd://127.0.0.1:$port/disk.img"
nbdinfo --map "$url" > map.txt
log=$TEST_DIR/agent-$port.log
cat "$log"

[ "$(map_bytes map.txt 0 $((128 * MiB)) hole)" -eq 0 ] || fail "holes in a disk whose filesystems cannot be read"
grep -Eq "warning: cannot read the ntfs filesystem on disk.img partition 1: .*; all of it will be sent" "$log" ||
    fail "no warning for the damaged NTFS"
grep -Eq "warning: cannot read the ext[234] filesystem on disk.img partition 2: .*; all of it will be sent" "$log" ||
    fail "no warning for the damaged ext4"
[ "$(grep -c warning "$log")" -eq 2 ] || fail "expected exactly two warnings"

qemu-img convert -f raw -O raw "$url" copy.raw
qemu-img compare -q -f raw -F raw disk.img copy.raw || fail "copy differs from the source"
[ "$(sha256sum disk.img)" = "$sha_before" ] || fail "disk.img changed"

# A disk that is one unpartitioned NTFS ("whole-disk" filesystem) is read too.
dd if=/dev/zero of=whole.img bs=1M count=64 status=none
mkntfs -Q -F -q whole.img 2>/dev/null
free_clusters=$(ntfsinfo -m whole.img 2>/dev/null | awk '/Free Clusters:/ { print $3; exit }')
port2=$(free_port)
start_agent "$port2" whole.img
nbdinfo --map "nbd://127.0.0.1:$port2/whole.img" > map-whole.txt
holes=$(map_bytes map-whole.txt 0 $((64 * MiB)) hole)
[ "$holes" -eq $((free_clusters * 4096)) ] || fail "whole-disk NTFS: holes $holes != $((free_clusters * 4096))"
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$port2/whole.img" copy-whole.raw
ntfsinfo -m copy-whole.raw >/dev/null 2>&1 || fail "the whole-disk NTFS copy does not open"
pass "unreadable filesystems are sent whole with a warning; whole-disk NTFS read"
