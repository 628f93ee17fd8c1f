#!/bin/bash
# p2v-convert run --target kvm on a phony Windows Server 2008 R2
# (tests/windows-guests.sh: MBR/BIOS, Select\Current=2, no
# DriverDatabase, a static address, HPE and Dell agents) served by
# p2v-agent, with a virtio-win tree made from the vendor's INF files.
# Asserted with tools nobody here wrote: hivexget on the output's hives
# (viostor boot-start in ControlSet002 only, its CriticalDeviceDatabase
# entries, DevicePath), guestfish for the copied files, virt-inspector
# (same product, same computer name: the same control set),
# virt-xml-validate; then the converted output through run again:
# DevicePath still names Drivers\VirtIO once.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget hivexregedit virt-inspector virt-xml-validate jq \
    x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc qemu-img

img=$(guest_windows 2k8r2) || fail "cannot build the phony Windows guests"
sum_before=$(sha256sum <"$img")
virtio_win_tree "$TEST_DIR/virtio-win"

port=$(free_port)
start_agent "$port" "$img"
out=$TEST_DIR/out
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" --target kvm \
    --name w8 --drivers "$TEST_DIR/virtio-win" 2>"$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "p2v-convert run failed"; }
disk=$out/$(jq -r '.disks[0].output' "$out/report.json")
[ -f "$disk" ] || fail "no output disk"
pass "run converted the 2008 R2 guest"

# Everything read from the output in one appliance launch (each costs
# some 20 s under TCG): the hives, the files, the first-boot scripts.
guestfish --ro -a "$disk" -m /dev/sda2 <<EOF >"$TEST_DIR/files" || fail "cannot read the output disk"
download /Windows/System32/config/SYSTEM $TEST_DIR/SYSTEM
download /Windows/System32/config/SOFTWARE $TEST_DIR/SOFTWARE
download "/Program Files/p2v/firstboot/0002-static-ip-1.cmd" $TEST_DIR/static-ip.cmd
cat /Windows/System32/drivers/viostor.sys
ls /Windows/Drivers/VirtIO
ls /Windows/Drivers/VirtIO/viostor
ls "/Program Files/p2v/firstboot"
EOF

# --- the registry, read with hivex ---
cs='ControlSet002'
[ "$(reg_value "$TEST_DIR/SYSTEM" "$cs\\Services\\viostor" Start)" = 0 ] ||
    fail "viostor is not boot-start in $cs"
[ "$(reg_value "$TEST_DIR/SYSTEM" "$cs\\Services\\viostor" Group)" = "SCSI miniport" ] ||
    fail "viostor's Group is not the INF's LoadOrderGroup"
reg_value "$TEST_DIR/SYSTEM" "$cs\\Services\\viostor" ImagePath | grep -qi 'viostor\.sys$' ||
    fail "viostor's ImagePath does not name viostor.sys"
[ -z "$(reg_value "$TEST_DIR/SYSTEM" 'ControlSet001\Services\viostor' Start)" ] ||
    fail "the stale ControlSet001 was written"
hivexregedit --export --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$TEST_DIR/SYSTEM" \
    "$cs\\Control\\CriticalDeviceDatabase" >"$TEST_DIR/cdd.reg"
grep -qi 'CriticalDeviceDatabase\\pci#ven_1af4&dev_1001' "$TEST_DIR/cdd.reg" ||
    { cat "$TEST_DIR/cdd.reg" >&2; fail "no CriticalDeviceDatabase entry for virtio-blk"; }
for id in 'pci#ven_1af4&dev_1001' 'pci#ven_1af4&dev_1042&subsys_11001af4&rev_01'; do
    [ "$(reg_value "$TEST_DIR/SYSTEM" "$cs\\Control\\CriticalDeviceDatabase\\$id" Service)" = viostor ] ||
        fail "CriticalDeviceDatabase\\$id does not name viostor"
done
pass "viostor boot-start in $cs with its CriticalDeviceDatabase entries; ControlSet001 untouched"

for svc in CqMgHost dcstor64; do
    [ "$(reg_value "$TEST_DIR/SYSTEM" "$cs\\Services\\$svc" Start)" = 4 ] ||
        fail "vendor service $svc is not disabled"
    jq -e --arg s "$svc" '[.changes[] | select(.description | test($s))] | length > 0' \
        "$out/report.json" >/dev/null || fail "report does not list $svc"
done
pass "vendor agents disabled and reported"

devpath=$(reg_value "$TEST_DIR/SOFTWARE" 'Microsoft\Windows\CurrentVersion' DevicePath)
[ "$(grep -o -i 'Drivers\\VirtIO' <<<"$devpath" | wc -l)" = 1 ] ||
    fail "DevicePath does not name Drivers\\VirtIO once: $devpath"
pass "DevicePath: $devpath"

# --- the files ---
grep -qx 'stand-in viostor.sys for 2k8R2' "$TEST_DIR/files" ||
    { cat "$TEST_DIR/files" >&2; fail "System32/drivers/viostor.sys is not the 2k8R2 package's"; }
for f in balloon viostor vioscsi viostor.inf viostor.cat; do
    grep -qx "$f" "$TEST_DIR/files" || { cat "$TEST_DIR/files" >&2; fail "Drivers/VirtIO lacks $f"; }
done
pass "viostor.sys in System32\\drivers, packages in Drivers\\VirtIO"
grep -qx 0001-pnputil.cmd "$TEST_DIR/files" && grep -qx 0002-static-ip-1.cmd "$TEST_DIR/files" ||
    { cat "$TEST_DIR/files" >&2; fail "first-boot scripts missing or out of order"; }
# 2008 R2: netsh, on the adapter with the MAC of the VM's one NIC.
mac=$(sed -n "s/.*<mac address='\([^']*\)'.*/\1/p" "$out/w8.xml")
grep -q "MACAddress='$mac'" "$TEST_DIR/static-ip.cmd" ||
    { cat "$TEST_DIR/static-ip.cmd" >&2; fail "the script does not look for the VM's MAC $mac"; }
grep -q 'netsh interface ipv4 set address name="%P2V_IF%" static 192.168.10.20 255.255.255.0 192.168.10.1' \
    "$TEST_DIR/static-ip.cmd" || { cat "$TEST_DIR/static-ip.cmd" >&2; fail "no netsh for the static address"; }
pass "first boot: pnputil, then netsh for 192.168.10.20 on MAC $mac"

# --- inspection of the result, the metadata ---
virt-inspector -a "$disk" >"$TEST_DIR/inspect.xml" || fail "virt-inspector fails on the output"
grep -q '<product_name>Windows Server 2008 R2 Standard</product_name>' "$TEST_DIR/inspect.xml" ||
    fail "virt-inspector: another product"
grep -q '<hostname>W2K8R2-SRV</hostname>' "$TEST_DIR/inspect.xml" ||
    fail "virt-inspector: not the computer name of ControlSet002"
grep -q '<arch>x86_64</arch>' "$TEST_DIR/inspect.xml" || fail "virt-inspector: not x86_64"
pass "virt-inspector: same product, same control set"
virt-xml-validate "$out/w8.xml" domain >/dev/null || fail "w8.xml does not validate"
grep -q "bus='virtio'" "$out/w8.xml" || fail "w8.xml: the disk is not on virtio"
grep -q "<clock offset='localtime'>" "$out/w8.xml" ||
    fail "w8.xml: the clock is not local time (RealTimeIsUniversal is not set)"
pass "libvirt XML validates, disk on virtio, clock in local time"
[ "$(sha256sum <"$img")" = "$sum_before" ] || fail "the source image changed"

# --- the converted disk through run again: nothing appended twice ---
qemu-img convert -O raw "$disk" "$TEST_DIR/converted.raw"
port2=$(free_port)
start_agent "$port2" "$TEST_DIR/converted.raw"
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port2" --out "$TEST_DIR/again" --target kvm \
    --name w8 --drivers "$TEST_DIR/virtio-win" 2>"$TEST_DIR/err2" ||
    { cat "$TEST_DIR/err2" >&2; fail "the second run failed"; }
disk2=$TEST_DIR/again/$(jq -r '.disks[0].output' "$TEST_DIR/again/report.json")
guestfish --ro -a "$disk2" -m /dev/sda2 <<EOF || fail "cannot read the second output"
download /Windows/System32/config/SOFTWARE $TEST_DIR/SOFTWARE2
download /Windows/System32/config/SYSTEM $TEST_DIR/SYSTEM2
EOF
devpath2=$(reg_value "$TEST_DIR/SOFTWARE2" 'Microsoft\Windows\CurrentVersion' DevicePath)
[ "$devpath2" = "$devpath" ] || fail "second run changed DevicePath: $devpath2"
for h in SYSTEM SYSTEM2; do
    hivexregedit --export --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$TEST_DIR/$h" "$cs\\Services\\viostor" \
        >"$TEST_DIR/$h-viostor.reg"
done
cmp "$TEST_DIR/SYSTEM-viostor.reg" "$TEST_DIR/SYSTEM2-viostor.reg" ||
    fail "second run changed Services\\viostor"
pass "second run: DevicePath and Services\\viostor unchanged"
