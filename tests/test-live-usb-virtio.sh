#!/usr/bin/env bash
# The live image written to a USB stick (the hybrid ISO as a raw disk on
# qemu's xHCI usb-storage) booted on BIOS, the source disk on virtio-scsi,
# serving over NBD through a forwarded port: only the source is offered
# (not the stick it booted from), and `p2v-convert copy nbd://...` copies
# it identical.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/live-helpers.sh"
requires nbdinfo nbdcopy jq sfdisk
[ -x "$P2V_CONVERT" ] || skip "$P2V_CONVERT is not built"
iso=$(live_iso)

cp "$iso" "$TEST_DIR/stick.img"
make_random_disk "$TEST_DIR/scsi.img" 48
sum=$(sha256sum "$TEST_DIR/scsi.img")

port=$(free_port)
boot_live usb-virtio bios "p2v.mode=serve p2v.auto=1 p2v.insecure=1" 360 \
    -device qemu-xhci,id=xhci \
    -drive "if=none,id=stick,format=raw,file=$TEST_DIR/stick.img" \
    -device usb-storage,bus=xhci.0,drive=stick,bootindex=0 \
    -device virtio-scsi-pci,id=scsi \
    -drive "if=none,id=src,format=raw,readonly=on,file=$TEST_DIR/scsi.img" \
    -device scsi-hd,drive=src,bus=scsi.0 \
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:10809"
wait_nbd "$port" 420
echo "usb-virtio: serving $(($(date +%s) - LIVE_START))s after boot"

nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json"
jq -c '[.exports[] | {"export-name", "export-size"}]' "$TEST_DIR/list.json"
# The disks, and p2v-live's own exports (p2v:survey ...) beside them.
jq '[.exports[] | select(."export-name" | startswith("p2v:") | not)]' "$TEST_DIR/list.json" >"$TEST_DIR/disks.json"
[ "$(jq length "$TEST_DIR/disks.json")" -eq 1 ] ||
    fail "the live image offers $(jq -c '[.[]."export-name"]' "$TEST_DIR/disks.json"), not just the source disk"
[ "$(jq '.[0]."export-size"' "$TEST_DIR/disks.json")" -eq "$(stat -c %s "$TEST_DIR/scsi.img")" ] ||
    fail "the one disk offered is not the source disk (its size differs)"
# ... and the stick was seen, as the boot medium, not missed.
grep -aq "is this image's boot medium (P2V_LIVE): not served" "$TEST_DIR/usb-virtio.console" ||
    fail "p2v-live did not see its USB stick as the boot medium"
name=$(jq -r '.[0]."export-name"' "$TEST_DIR/disks.json")
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/$name" -O qcow2 -o "$TEST_DIR/copy.qcow2" \
    >"$TEST_DIR/copy.log" 2>&1 || fail "p2v-convert copy nbd://127.0.0.1:$port/$name failed"
qemu-img compare -f raw -F qcow2 "$TEST_DIR/scsi.img" "$TEST_DIR/copy.qcow2" || fail "the copy differs from its source"
nbdcopy "nbd://127.0.0.1:$port/p2v:survey" - | tr -d '\0' >"$TEST_DIR/survey.json" ||
    fail "cannot read the export p2v:survey"
check_survey "$TEST_DIR/survey.json" 1
# Opening p2v:done says "all copied": with p2v.auto=1 the guest powers off.
nbdinfo "nbd://127.0.0.1:$port/p2v:done" >/dev/null 2>&1 || true
live_powers_off 120
cmp -s "$iso" "$TEST_DIR/stick.img" || fail "the guest wrote to its USB stick"
[ "$(sha256sum "$TEST_DIR/scsi.img")" = "$sum" ] || fail "the source disk changed"
pass "USB stick on BIOS, virtio-scsi, serve: only the source offered, copy identical"
