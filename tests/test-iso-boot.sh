#!/usr/bin/env bash
# The live image boots under qemu (TCG) into /init and p2v-live, which reads
# its settings from fw_cfg (p2v.dump_settings: print them, power off):
# BIOS from a CD, UEFI from the image written to a USB stick, and UEFI with
# Secure Boot (shim -> Debian's grub -> Debian's kernel and modules) from a
# CD.  The image is built unchanged by iso/build-iso; the full boot-and-copy
# tests are test-live-*.sh.
# labels: slow
source "$(dirname "$0")/functions.sh"
PATH=$PATH:/usr/sbin:/sbin
requires qemu-system-x86_64 qemu-img xorriso zstd cpio jq mkfs.vfat mcopy apt-get dpkg-deb depmod
[ "$(id -u)" = 0 ] || skip "build-iso needs root (it creates dev/console in the initramfs)"
[ -x "$P2V_BUILD_DIR/p2v-live/p2v-live" ] || skip "p2v-live is not built (cmake --build $P2V_BUILD_DIR --target p2v-live)"
OVMF=/usr/share/OVMF
for f in OVMF_CODE_4M.fd OVMF_VARS_4M.fd OVMF_CODE_4M.ms.fd OVMF_VARS_4M.ms.fd; do
    [ -r "$OVMF/$f" ] || skip "$OVMF/$f is missing (apt-get install ovmf)"
done

iso=$TEST_DIR/p2v-live.iso
"$P2V_SOURCE_DIR/iso/build-iso" --build-dir "$P2V_BUILD_DIR" --out "$iso" >"$TEST_DIR/build.log" 2>&1 ||
    { cat "$TEST_DIR/build.log" >&2; fail "build-iso failed"; }
qemu-img create -f qcow2 "$TEST_DIR/disk.qcow2" 64M >/dev/null

# boot NAME QEMU-ARGS...: boot, wait (at most 240 s) until p2v-live has
# printed the settings fw_cfg gave it and qemu has powered off.  On failure
# the console's tail is shown.
boot() {
    local name=$1; shift
    local log=$TEST_DIR/$name.log pid i status
    : >"$log"
    qemu-system-x86_64 -accel tcg -m 1024 -nographic -monitor none -no-reboot \
        -serial "file:$log" \
        -fw_cfg name=opt/p2v/settings,string="p2v.dump_settings p2v.auto=1" \
        -drive "file=$TEST_DIR/disk.qcow2,if=virtio,format=qcow2,snapshot=on" \
        "$@" </dev/null >"$TEST_DIR/$name.qemu" 2>&1 &
    pid=$!
    eval "stop_$name() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }"
    cleanup "stop_$name"
    for ((i = 0; i < 240; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        grep -aq 'p2v-live cannot run' "$log" && break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    status=0; wait "$pid" || status=$?
    if ! grep -aq 'p2v-init: starting p2v-live' "$log" || ! grep -aq '^p2v\.auto=1' "$log" ||
       ! grep -aq 'reboot: Power down' "$log"; then
        echo "---- $name: qemu exit status $status after ${i}s; console tail:" >&2
        tail -n 40 "$log" | tr -d '\033' >&2
        cat "$TEST_DIR/$name.qemu" >&2
        fail "$name: the image did not boot into p2v-live"
    fi
    pass "$name: booted into p2v-live in ${i}s ($(grep -ao 'starting p2v-live, [0-9.]* s after boot' "$log"))"
}

boot bios-cdrom -cdrom "$iso"

cp "$OVMF/OVMF_VARS_4M.fd" "$TEST_DIR/vars.fd"
boot uefi-usb-stick -machine q35 \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF/OVMF_CODE_4M.fd" \
    -drive "if=pflash,format=raw,unit=1,file=$TEST_DIR/vars.fd" \
    -device qemu-xhci -drive "if=none,id=stick,format=raw,readonly=on,file=$iso" \
    -device usb-storage,drive=stick,bootindex=0

cp "$OVMF/OVMF_VARS_4M.ms.fd" "$TEST_DIR/vars-sb.fd"
boot uefi-secure-boot -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF/OVMF_CODE_4M.ms.fd" \
    -drive "if=pflash,format=raw,unit=1,file=$TEST_DIR/vars-sb.fd" \
    -cdrom "$iso"
grep -aq 'Secure Boot is enabled' "$TEST_DIR/uefi-secure-boot.log" ||
    fail "uefi-secure-boot: the kernel did not report Secure Boot (EFI stub: UEFI Secure Boot is enabled)"
pass "Secure Boot: shim, grub, kernel and modules accepted"
