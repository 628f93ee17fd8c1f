#!/bin/bash
# p2v-convert run on a phony Windows Server 2022 (tests/windows-guests.sh:
# GPT/UEFI, an ESP with only the Windows boot manager, DriverDatabase,
# Fast Startup on, group policy, antivirus, a static address) served by
# p2v-agent.  KVM with --block-driver virtio-scsi and a virtio-win ISO:
# the three warnings, a PowerShell script for the address on the VM
# NIC's MAC, vioscsi boot-start with DriverDatabase entries (hivexget),
# the fallback boot loader \EFI\Boot\bootx64.efi on the ESP (a copy of
# bootmgfw.efi, recorded), virtio-scsi and UEFI in the validated XML.
# Then VMware without drivers: LSI_SAS boot-start, StartOverride cleared.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget hivexregedit virt-xml-validate jq genisoimage \
    x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc

img=$(guest_windows 2k22) || fail "cannot build the phony Windows guests"
virtio_win_tree "$TEST_DIR/virtio-win"
# As an ISO, the way virtio-win ships (the 2008 R2 test uses a folder).
genisoimage -quiet -J -R -o "$TEST_DIR/virtio-win.iso" "$TEST_DIR/virtio-win" 2>/dev/null ||
    fail "genisoimage failed"
port=$(free_port)
start_agent "$port" "$img"

out=$TEST_DIR/kvm
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" --target kvm --name w22 \
    --drivers "$TEST_DIR/virtio-win.iso" --block-driver virtio-scsi 2>"$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "p2v-convert run failed"; }
grep -q '^p2v-convert: warning: Fast Startup is on' "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "no Fast Startup warning"; }
grep -q '^p2v-convert: warning: the source has 1 group policies applied from the domain example.com' \
    "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "no group policy warning"; }
grep -q '^p2v-convert: warning: the source has antivirus software (Symantec Endpoint Protection)' \
    "$TEST_DIR/err" || { cat "$TEST_DIR/err" >&2; fail "no antivirus warning"; }
disk=$out/$(jq -r '.disks[0].output' "$out/report.json")
pass "run converted the 2022 guest (Fast Startup, group policy, antivirus warned)"

# Everything read from the output in one appliance launch (each costs
# some 20 s under TCG): the script, the hive, the driver, the ESP's loader.
guestfish --ro -a "$disk" <<EOF || fail "cannot read the output disk"
run
mount-ro /dev/sda3 /
download "/Program Files/p2v/firstboot/0002-static-ip-1.cmd" $TEST_DIR/static-ip.cmd
download /Windows/System32/config/SYSTEM $TEST_DIR/SYSTEM
download /Windows/System32/drivers/vioscsi.sys $TEST_DIR/sys
umount /
mount-ro /dev/sda1 /
download /EFI/Boot/bootx64.efi $TEST_DIR/esp
EOF

# 2022: PowerShell, on the adapter with the VM's one NIC's MAC.
mac=$(sed -n "s/.*<mac address='\([^']*\)'.*/\1/p" "$out/w22.xml" | tr : -)
grep -q "MacAddress -eq '$mac'" "$TEST_DIR/static-ip.cmd" &&
    grep -q 'New-NetIPAddress -InterfaceIndex $a.ifIndex -IPAddress 192.168.10.20 -PrefixLength 24 -DefaultGateway 192.168.10.1' \
        "$TEST_DIR/static-ip.cmd" &&
    grep -q 'ServerAddresses 192.168.10.2,192.168.10.3' "$TEST_DIR/static-ip.cmd" ||
    { cat "$TEST_DIR/static-ip.cmd" >&2; fail "the PowerShell script does not set 192.168.10.20/24 on $mac"; }
pass "first boot: PowerShell sets 192.168.10.20/24 on MAC $mac"

[ "$(reg_value "$TEST_DIR/SYSTEM" 'ControlSet001\Services\vioscsi' Start)" = 0 ] ||
    fail "vioscsi is not boot-start"
hivexregedit --export --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$TEST_DIR/SYSTEM" 'DriverDatabase' \
    >"$TEST_DIR/ddb.reg"
grep -qi 'DeviceIds\\PCI\\VEN_1AF4&DEV_1048' "$TEST_DIR/ddb.reg" ||
    { cat "$TEST_DIR/ddb.reg" >&2; fail "no DriverDatabase entry for virtio-scsi"; }
grep -qx 'stand-in vioscsi.sys for 2k22' "$TEST_DIR/sys" || fail "vioscsi.sys is not the ISO's 2k22 one"
pass "vioscsi boot-start, registered in DriverDatabase, its .sys from the ISO's 2k22 folder"

grep -qx 'phony Windows boot manager' "$TEST_DIR/esp" || fail "no fallback boot loader on the ESP"
jq -e '[.changes[] | select(.area == "bootloader" and (.file | test("bootx64.efi"; "i")))] | length == 1' \
    "$out/report.json" >/dev/null || fail "report does not list the fallback boot loader"
pass "ESP: \\EFI\\Boot\\bootx64.efi copied from bootmgfw.efi, recorded"

virt-xml-validate "$out/w22.xml" domain >/dev/null || fail "w22.xml does not validate"
grep -q "bus='scsi'" "$out/w22.xml" || fail "w22.xml: the disk is not on SCSI"
grep -Eq "firmware='efi'|OVMF|ovmf" "$out/w22.xml" || fail "w22.xml: not UEFI"
pass "libvirt XML validates: virtio-scsi, UEFI"

# VMware, no drivers: LSI Logic SAS from the box.
vm=$TEST_DIR/vmware
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$vm" --target vmware --name w22 \
    --keep-disks 2>"$TEST_DIR/err" || { cat "$TEST_DIR/err" >&2; fail "run --target vmware failed"; }
vdisk=$vm/$(jq -r '.disks[0].output' "$vm/report.json")
hive_of "$vdisk" /dev/sda3 SYSTEM "$TEST_DIR/SYSTEM-vmw"
[ "$(reg_value "$TEST_DIR/SYSTEM-vmw" 'ControlSet001\Services\LSI_SAS' Start)" = 0 ] ||
    fail "LSI_SAS is not boot-start"
[ -z "$(reg_value "$TEST_DIR/SYSTEM-vmw" 'ControlSet001\Services\LSI_SAS\StartOverride' 0)" ] ||
    fail "LSI_SAS StartOverride not cleared"
pass "VMware: LSI_SAS boot-start"
