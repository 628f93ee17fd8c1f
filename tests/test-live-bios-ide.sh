#!/usr/bin/env bash
# The live image booted from CD on BIOS (pc machine), two source disks on
# IDE, dialling out to `p2v-convert copy --listen` on the host: every disk
# arrives as qcow2, the raw one identical to its source, the ext4 one
# identical in every file and used block, its free space left out (no
# partition table unread, the survey shows its GPT and used bytes, the
# copy holds less data than the deleted file); the survey validates; the
# guest powers off by itself (p2v.auto=1).
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/live-helpers.sh"
requires nbdinfo jq sfdisk parted mkfs.ext4 debugfs dumpe2fs e2image e2fsck
[ -x "$P2V_CONVERT" ] || skip "$P2V_CONVERT is not built"
iso=$(live_iso)

make_random_disk "$TEST_DIR/raw.img" 40
make_ext4_disk "$TEST_DIR/ext4.img" 72
sums=$(sha256sum "$TEST_DIR/raw.img" "$TEST_DIR/ext4.img")

port=$(free_port)
out=$TEST_DIR/out
start_listener "$port" "$out" qcow2
boot_live bios-ide bios "p2v.server=10.0.2.2 p2v.port=$port p2v.mode=dial p2v.auto=1 p2v.insecure=1" 360 \
    -cdrom "$iso" -boot d \
    -drive "if=ide,index=0,media=disk,format=raw,file=$TEST_DIR/raw.img,snapshot=on" \
    -drive "if=ide,index=1,media=disk,format=raw,file=$TEST_DIR/ext4.img,snapshot=on" \
    -nic user,model=e1000
wait_exit "$CONV_PID" 240 "p2v-convert copy --listen"
converter_done "$port"
echo "bios-ide: copied $(($(date +%s) - LIVE_START))s after boot"
live_powers_off 120

ls -l "$out"
[ "$(ls "$out"/*.qcow2 | wc -l)" -eq 2 ] || fail "expected 2 qcow2 outputs, got: $(ls "$out")"
for f in "$out"/*.qcow2; do qemu-img check -q "$f" || fail "qemu-img check fails on $f"; done
raw_out=$(output_for "$TEST_DIR/raw.img" "$out" qcow2)
qemu-img compare -f raw -F qcow2 "$TEST_DIR/raw.img" "$raw_out" || fail "$raw_out differs from its source"
ext4_out=$(output_for "$TEST_DIR/ext4.img" "$out" qcow2)
check_ext4_copy "$TEST_DIR/ext4.img" "$ext4_out"
check_survey "$out/survey.json" 2
# The ext4 disk's free space was left out, which needs libparted to read
# its GPT inside the image (an sd* disk: not the path host tests take).
console=$(tr -d '\r' <"$TEST_DIR/bios-ide.console")
! grep -q "cannot read the partition table" <<<"$console" ||
    fail "p2v-live: $(grep -m1 "cannot read the partition table" <<<"$console")"
ext4_size=$(stat -c %s "$TEST_DIR/ext4.img")
jq -e --argjson size "$ext4_size" '[.disks[] | select(.size_bytes == $size)] | length == 1 and
        .[0].table_type == "gpt" and (.[0].partitions | length) == 1 and
        .[0].partitions[0].filesystem == "ext4" and .[0].used_bytes < $size / 2' \
    "$out/survey.json" >/dev/null ||
    fail "the survey does not show the ext4 disk's GPT and free space: $(jq -c '.disks' "$out/survey.json")"
# Deleted random data fills a third of the disk (make_ext4_disk): sent
# whole, the copy would hold at least that much.
data=$(qemu-img map --output=json "$ext4_out" | jq '[.[] | select(.data) | .length] | add // 0')
[ "$data" -lt $((ext4_size / 3)) ] ||
    fail "the ext4 copy holds $data bytes of data: its free space was sent"
echo "bios-ide: ext4 disk of $ext4_size bytes, $data bytes of data in its copy"
jq -e '.firmware == "bios"' "$out/survey.json" >/dev/null || fail "the survey does not say BIOS"
[ "$(sha256sum "$TEST_DIR/raw.img" "$TEST_DIR/ext4.img")" = "$sums" ] || fail "a source disk changed"
pass "BIOS, IDE, dial: both disks copied, identical where used, survey valid"
