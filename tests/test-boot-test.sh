#!/bin/bash
# The boot test (converter/boot-test.c) against qemu booting real disks:
#   - a 1 MiB raw disk whose boot sector prints "p2v-test login:" on COM1
#     passes, on the KVM target's hardware (virtio-blk) and on VMware's
#     (pvscsi, vmxnet3); the screenshot is a PNG (file(1) says so); the
#     disk is unchanged (it was only a backing file); a "[FAILED]" line
#     (systemd's, with its colours) is the result's one warning;
#   - the same disk boots on virtio-scsi, SATA and LSI Logic SAS with
#     e1000e and e1000 NICs; a Windows guest (--os-type windows) passes on
#     "p2v-firstboot: started", not on a login prompt, and the result
#     names the marker awaited;
#   - a disk whose boot sector prints "Missing operating system" and halts
#     fails: the marker was not seen within the timeout, the console tail
#     says what the guest printed, with its escape sequences removed;
#   - a UEFI guest starts OVMF (q35, pflash, a copy of the variable store):
#     OVMF's boot manager writes "BdsDxe" on the serial console;
#   - a missing disk: one line, non-zero;
#   - nothing is left in TMPDIR (overlays, QMP socket, logs).
# The first boot also runs the KVM probe (on a host where KVM guests hang
# it falls back to TCG); the others are told TCG to save the probe's time.
# labels: slow
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires qemu-system-x86_64 qemu-img file sha256sum
[ -x "$PYTHON" ] || skip "$PYTHON is missing"

W=$P2V_BUILD_DIR/tests/write-vm
[ -x "$W" ] || fail "$W is not built"
cd "$TEST_DIR"
# The boot test's overlays, socket and logs go under TMPDIR: it must be
# empty again after each run.
export TMPDIR=$TEST_DIR/tmp
mkdir "$TMPDIR"

# mbr FILE MESSAGE: a 1 MiB disk whose boot sector prints MESSAGE on COM1
# and halts.  16-bit code, loaded by the BIOS at 0000:7c00:
#   0  fc           cld
#   1  31 c0        xor ax, ax
#   3  8e d8        mov ds, ax
#   5  be 16 7c     mov si, 0x7c16      ; MESSAGE, at offset 22
#   8  ba f8 03     mov dx, 0x3f8       ; COM1's data port
#  11  ac           lodsb               ; next:
#  12  84 c0        test al, al
#  14  74 03        jz 19               ; NUL: done
#  16  ee           out dx, al
#  17  eb f8        jmp 11
#  19  f4           hlt                 ; done:
#  20  eb fd        jmp 19
#  22  MESSAGE, NUL
# and the boot signature 55 aa at offset 510.
mbr() {
    truncate -s 1M "$1"
    printf '\xfc\x31\xc0\x8e\xd8\xbe\x16\x7c\xba\xf8\x03\xac\x84\xc0\x74\x03\xee\xeb\xf8\xf4\xeb\xfd%s\x00' "$2" |
        dd of="$1" conv=notrunc status=none
    printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
}

# field JSON KEY: one boot_test field of write-vm's output.
field() {
    "$PYTHON" -c 'import json,sys; v=json.load(open(sys.argv[1]))["boot_test"][sys.argv[2]]; print("" if v is None else v)' "$1" "$2"
}

mbr good.raw $'SeaBIOS is done\r\np2v-test login: \r\n'
sum_before=$(sha256sum good.raw)

"$W" boot-test . --disk good.raw:raw --nic 52:54:00:12:34:56 --timeout 60 >kvm.json 2>kvm.err ||
    { cat kvm.err >&2; fail "boot test did not run"; }
[ "$(field kvm.json passed)" = True ] || { cat kvm.json >&2; fail "bootable disk did not pass (KVM target)"; }
[ -z "$(field kvm.json reason)" ] || fail "a passed test has a reason"
field kvm.json console_tail | grep -q "p2v-test login:" || fail "console tail lacks the marker"
shot=$(field kvm.json screenshot)
[ "$shot" = "$TEST_DIR/boot-test.png" ] || fail "screenshot path: $shot"
file "$shot" | grep -q "PNG image data" || fail "screenshot is not a PNG: $(file "$shot")"
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no PNG signature"
[ "$(sha256sum good.raw)" = "$sum_before" ] || fail "the boot test wrote to the output disk"
echo "accelerator: $(field kvm.json accelerator); $(cat kvm.err)"
pass "bootable disk passes on virtio-blk in $(field kvm.json seconds) s, screenshot is a PNG"

export P2V_BOOT_TEST_ACCEL=tcg
rm -f boot-test.png
# A unit that failed on the way (systemd's colours, twice: recorded once).
failed_line=$'[\x1b[0;1;31mFAILED\x1b[0m] Failed to start networking.service - Raise network interfaces.\r\n'
mbr failed.raw "SeaBIOS is done"$'\r\n'"$failed_line$failed_line"$'See the log.\r\np2v-test login: \r\n'
"$W" boot-test . --target vmware --disk failed.raw:raw --nic 00:50:56:00:00:01 --timeout 60 >vmw.json ||
    fail "boot test did not run (VMware target)"
[ "$(field vmw.json passed)" = True ] || { cat vmw.json >&2; fail "bootable disk did not pass on pvscsi"; }
[ -s boot-test.png ] || fail "no screenshot (VMware target)"
pass "bootable disk passes on pvscsi + vmxnet3"
"$PYTHON" -c 'import json,sys; w=json.load(open(sys.argv[1]))["boot_test"]["warnings"]; sys.exit(w != ["[FAILED] Failed to start networking.service - Raise network interfaces."])' vmw.json ||
    { cat vmw.json >&2; fail "the failed unit is not the boot test's one warning"; }
"$PYTHON" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["boot_test"]["warnings"] != [])' kvm.json ||
    fail "a clean boot has warnings"
pass "a [FAILED] line on the console is recorded once as a warning; a clean boot has none"

# The firmware boots the disk on every other bus, with every NIC model
# (qemu would refuse a device it does not know; the BIOS must find the disk).
for hw in kvm:virtio-scsi:e1000e kvm:sata:e1000 vmware:lsi-sas:e1000e vmware:sata:e1000; do
    IFS=: read -r target bus nic <<<"$hw"
    "$W" boot-test . --target "$target" --disk-bus "$bus" --nic-model "$nic" --disk good.raw:raw \
        --nic - --timeout 60 >"bus-$bus.json" 2>"bus-$bus.err" ||
        { cat "bus-$bus.err" >&2; fail "boot test did not run ($target, $bus, $nic)"; }
    [ "$(field "bus-$bus.json" passed)" = True ] ||
        { cat "bus-$bus.json" >&2; fail "bootable disk did not pass on $bus + $nic ($target)"; }
done
pass "bootable disk passes on virtio-scsi + e1000e, SATA + e1000 (KVM), LSI SAS + e1000e, SATA + e1000 (VMware)"

# Windows: the first-boot service's line on COM1 is the marker; a login
# prompt is not.
mbr win.raw $'Windows Boot Manager\r\np2v-firstboot: started\r\n'
"$W" boot-test . --os-type windows --disk-bus sata --nic-model e1000e --disk win.raw:raw \
    --timeout 60 >win.json || fail "boot test did not run (Windows)"
[ "$(field win.json passed)" = True ] || { cat win.json >&2; fail "the Windows marker was not recognised"; }
[ "$(field win.json marker)" = "p2v-firstboot: started" ] || fail "Windows marker: $(field win.json marker)"
[ "$(field kvm.json marker)" = "login:" ] || fail "Linux marker: $(field kvm.json marker)"
"$W" boot-test . --os-type windows --disk good.raw:raw --timeout 10 >winlogin.json ||
    fail "boot test did not run (Windows, login prompt)"
[ "$(field winlogin.json passed)" = False ] || fail "a Windows guest passed on a login prompt"
field winlogin.json reason | grep -q "marker 'p2v-firstboot: started' was not seen on the serial console within 10 s" ||
    fail "reason: $(field winlogin.json reason)"
pass "Windows: 'p2v-firstboot: started' awaited and recorded; a login prompt does not pass"

# ESC [ 2 J (clear screen) before the text: must not reach the tail.
mbr bad.raw $'\x1b[2JMissing operating system\r\n'
"$W" boot-test . --disk bad.raw:raw --timeout 20 >bad.json || fail "boot test did not run (unbootable disk)"
[ "$(field bad.json passed)" = False ] || fail "unbootable disk passed"
field bad.json reason | grep -q "marker 'login:' was not seen on the serial console within 20 s" ||
    fail "reason: $(field bad.json reason)"
[ "$(field bad.json console_tail)" = "Missing operating system" ] ||
    fail "console tail: $(field bad.json console_tail | od -c | head -3)"
pass "unbootable disk fails: marker not seen within the timeout, console tail kept"

[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || skip "OVMF is not installed (package ovmf)"
"$W" boot-test . --uefi --disk bad.raw:raw --marker BdsDxe --timeout 60 >uefi.json ||
    fail "boot test did not run (UEFI)"
[ "$(field uefi.json passed)" = True ] || { cat uefi.json >&2; fail "OVMF did not start"; }
pass "UEFI: OVMF starts and writes to the serial console"

expect_error "cannot boot-test disk .*missing\.raw" "$W" boot-test . --disk missing.raw:raw
pass "missing disk: one line"
[ -z "$(ls -A "$TMPDIR")" ] || fail "the boot test left files in TMPDIR: $(ls -A "$TMPDIR")"
pass "overlays and work files removed"
