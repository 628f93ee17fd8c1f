#!/usr/bin/env bash
# The live image booted from CD on UEFI with Secure Boot enforced (q35,
# OVMF with Microsoft's keys: Debian's signed shim, grub and kernel), the
# source disk on the q35's AHCI controller, dialling out to
# `p2v-convert copy --listen`: the disk arrives identical, the survey
# validates and says UEFI and Secure Boot on, the kernel reports Secure
# Boot enabled, the guest powers off by itself.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/live-helpers.sh"
requires nbdinfo jq sfdisk
[ -x "$P2V_CONVERT" ] || skip "$P2V_CONVERT is not built"
[ -f "$OVMF_DIR/OVMF_CODE_4M.ms.fd" ] && [ -f "$OVMF_DIR/OVMF_VARS_4M.ms.fd" ] ||
    skip "OVMF with Secure Boot is not installed (apt-get install ovmf)"
iso=$(live_iso)

make_random_disk "$TEST_DIR/sata.img" 56
sum=$(sha256sum "$TEST_DIR/sata.img")

port=$(free_port)
out=$TEST_DIR/out
start_listener "$port" "$out" qcow2
boot_live uefi-ahci uefi-sb "p2v.server=10.0.2.2 p2v.port=$port p2v.mode=dial p2v.auto=1 p2v.insecure=1" 420 \
    -drive "if=none,id=cd,media=cdrom,readonly=on,format=raw,file=$iso" \
    -device ide-cd,drive=cd,bus=ide.0,bootindex=0 \
    -drive "if=none,id=src,format=raw,file=$TEST_DIR/sata.img,snapshot=on" \
    -device ide-hd,drive=src,bus=ide.1 \
    -nic user,model=virtio-net-pci
wait_exit "$CONV_PID" 300 "p2v-convert copy --listen"
converter_done "$port"
echo "uefi-ahci: copied $(($(date +%s) - LIVE_START))s after boot"
live_powers_off 120

ls -l "$out"
[ "$(ls "$out"/*.qcow2 | wc -l)" -eq 1 ] || fail "expected 1 qcow2 output, got: $(ls "$out")"
qemu-img compare -f raw -F qcow2 "$TEST_DIR/sata.img" "$(output_for "$TEST_DIR/sata.img" "$out" qcow2)" ||
    fail "the copy differs from its source"
check_survey "$out/survey.json" 1
jq -e '.firmware == "uefi"' "$out/survey.json" >/dev/null || fail "the survey does not say UEFI"
# Secure Boot was enforced: the kernel's EFI stub says so (firmware
# enforcing it refuses an unsigned shim, grub or kernel before that).
grep -aq "EFI stub: UEFI Secure Boot is enabled" "$TEST_DIR/uefi-ahci.console" ||
    fail "the kernel does not report Secure Boot enabled"
# The survey says so too (from the SecureBoot variable: /init mounts efivarfs).
jq -e '.secure_boot == true' "$out/survey.json" >/dev/null ||
    fail "the survey says secure_boot is $(jq -c '.secure_boot' "$out/survey.json"), not true"
[ "$(sha256sum "$TEST_DIR/sata.img")" = "$sum" ] || fail "the source disk changed"
pass "UEFI Secure Boot, AHCI, dial: disk identical, survey valid"
