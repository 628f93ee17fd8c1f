#!/usr/bin/env bash
# NTFS allocation: free clusters and pagefile.sys are holes, the total data
# agrees exactly with what ntfs-3g's tools call used, every used cluster
# reaches the copy intact, --all-blocks sends everything, and the source
# is never touched.
# labels: disk
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/disk-helpers.sh"
requires parted mkntfs ntfscp ntfsls ntfstruncate ntfsinfo ntfsclone ntfscat nbdinfo qemu-img python3
[ -x "$P2V_AGENT" ] || skip "$P2V_AGENT is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))
P1_START=$((1 * MiB)); P1_END=$((200 * MiB))
make_solid_disk disk.img 256
parted -s disk.img mklabel msdos mkpart primary ntfs 1MiB 200MiB mkpart primary 200MiB 100% 2>/dev/null

# Build the filesystem in its own file (no loop devices, no FUSE needed).
dd if=/dev/zero of=part.img bs=1M count=199 status=none
mkntfs -Q -F -q -p 2048 -L WINSYS part.img 2>/dev/null
head -c $((60 * MiB)) /dev/urandom > garbage.bin     # deleted below: stale data
head -c $((5 * MiB)) /dev/urandom > keep1.bin
head -c 123457 /dev/urandom > keep2.bin               # not cluster aligned
head -c $((20 * MiB)) /dev/urandom > pagefile.bin
ntfscp -q part.img garbage.bin garbage.bin
ntfscp -q part.img keep1.bin keep1.bin
ntfscp -q part.img keep2.bin keep2.bin
ntfscp -q part.img pagefile.bin pagefile.sys
ino=$(ntfsls -i part.img 2>/dev/null | awk '$2 == "garbage.bin" { print $1 }')
ntfstruncate part.img "$ino" 0x80 0 >/dev/null 2>&1     # frees 60 MiB of random clusters
dd if=part.img of=disk.img bs=1M seek=1 conv=notrunc status=none

# ntfs-3g's own figures, the oracle.
cs=$(ntfsinfo -m part.img 2>/dev/null | awk -F: '/Cluster Size/ { print $2 + 0; exit }')
free_clusters=$(ntfsinfo -m part.img 2>/dev/null | awk '/Free Clusters:/ { print $3; exit }')
total_clusters=$(ntfsinfo -m part.img 2>/dev/null | awk -F: '/Volume Size in Clusters/ { print $2 + 0; exit }')
# pagefile.sys runs: "0xVCN 0xLCN 0xLEN" lines after "Runlist:" of its $DATA.
ntfsinfo -v -F /pagefile.sys part.img 2>/dev/null |
    awk '/Runlist:/ { on = 1; next } on && /^[ \t]+0x/ { print $2, $3; next } { on = 0 }' |
    while read -r lcn len; do echo $((lcn)) $((len)); done > pagefile.runs
[ -s pagefile.runs ] || fail "cannot read pagefile.sys runs with ntfsinfo"
pagefile_bytes=$(awk -v cs="$cs" '{ s += $2 * cs } END { print s }' pagefile.runs)
expected_holes=$((free_clusters * cs + pagefile_bytes))
echo "ntfs-3g: cluster $cs, $total_clusters clusters, $free_clusters free; pagefile.sys $pagefile_bytes bytes"

sha_before=$(sha256sum disk.img)
mtime_before=$(stat -c %Y.%y disk.img)

port=$(free_port)
start_agent "$port" -v disk.img
url="nbd://127.0.0.1:$port/disk.img"
nbdinfo --map "$url" > map.txt

# Holes inside the NTFS partition: exactly free clusters + pagefile.
holes=$(map_bytes map.txt $P1_START $P1_END hole)
echo "map: $holes bytes of holes in the NTFS partition, expected $expected_holes"
[ "$holes" -eq "$expected_holes" ] || fail "NTFS holes $holes != free clusters + pagefile $expected_holes"
data=$(map_bytes map.txt $P1_START $P1_END data)
used=$(( (total_clusters - free_clusters) * cs ))
echo "map: $data bytes of data in the NTFS partition; ntfs-3g used $used - pagefile $pagefile_bytes" \
     "+ $(( P1_END - P1_START - total_clusters * cs )) bytes after the last cluster (backup boot sector)"
[ "$data" -eq $(( used - pagefile_bytes + P1_END - P1_START - total_clusters * cs )) ] ||
    fail "NTFS data bytes do not match ntfs-3g's used figure"
# Outside the partition (MBR, gap, the unformatted second partition): all data.
[ "$(map_bytes map.txt 0 $P1_START hole)" -eq 0 ] || fail "holes before the partition"
[ "$(map_bytes map.txt $P1_END $((256 * MiB)) hole)" -eq 0 ] || fail "holes in the unknown partition"
# Every pagefile run is a hole.
while read -r lcn len; do
    off=$((P1_START + lcn * cs)); n=$((len * cs))
    [ "$(map_bytes map.txt $off $((off + n)) hole)" -eq "$n" ] || fail "pagefile.sys run at $lcn is not a hole"
done < pagefile.runs
grep -q 'partition 1: ntfs "WINSYS"' "$TEST_DIR/agent-$port.log" || fail "no ntfs line in the agent log"

# The copy: every used cluster identical, free space and pagefile zero.
qemu-img convert -f raw -O raw "$url" copy.raw
dd if=copy.raw of=copy-part.img bs=1M skip=1 count=199 status=none
ntfsclone -q -o expected.raw part.img >/dev/null 2>&1    # used clusters only, the rest zero
while read -r lcn len; do                              # the pagefile is not sent
    dd if=/dev/zero of=expected.raw bs="$cs" seek="$lcn" count="$len" conv=notrunc status=none
done < pagefile.runs
cmp expected.raw <(head -c "$(stat -c %s expected.raw)" copy-part.img) ||
    fail "the copy's NTFS partition differs from ntfsclone's image of the used clusters"
ntfscat copy-part.img keep1.bin | cmp - keep1.bin || fail "keep1.bin differs in the copy"
ntfscat copy-part.img keep2.bin | cmp - keep2.bin || fail "keep2.bin differs in the copy"
[ "$(ntfscat copy-part.img pagefile.sys | tr -d '\0' | wc -c)" -eq 0 ] || fail "pagefile.sys contents were sent"
same_bytes disk.img copy.raw 0 $P1_START || fail "MBR and gap differ"
same_bytes disk.img copy.raw $P1_END $((56 * MiB)) || fail "the second partition differs"
# The deleted garbage really was in the source, and is not in the copy.
garbage_src=$(python3 -c "import sys; d=open('part.img','rb').read(); e=open('copy-part.img','rb').read(); print(sum(1 for i in range(0, len(d), 4096) if d[i:i+4096] != e[i:i+4096]))")
echo "clusters that differ between source and copy (deleted data + pagefile): $garbage_src"
[ "$garbage_src" -ge $(( (60 * MiB + pagefile_bytes) / cs )) ] || fail "expected the deleted garbage to differ"

# --all-blocks: no holes, an identical copy.
port2=$(free_port)
start_agent "$port2" --all-blocks disk.img
nbdinfo --map "nbd://127.0.0.1:$port2/disk.img" > map-all.txt
[ "$(map_bytes map-all.txt 0 $((256 * MiB)) hole)" -eq 0 ] || fail "--all-blocks map has holes"
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$port2/disk.img" copy-all.raw
qemu-img compare -q -f raw -F raw disk.img copy-all.raw || fail "--all-blocks copy differs"

# The source is untouched.
[ "$(sha256sum disk.img)" = "$sha_before" ] || fail "disk.img changed"
[ "$(stat -c %Y.%y disk.img)" = "$mtime_before" ] || fail "disk.img mtime changed"
pass "NTFS: $holes bytes not sent (free $((free_clusters * cs)) + pagefile $pagefile_bytes), used clusters identical"
