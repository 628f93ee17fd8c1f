#!/bin/bash
# p2v-convert run --target kvm --boot-test on a real Debian 12 guest
# (tests/guest-helpers.sh: /dev/sda names, an initramfs with only SATA/IDE
# drivers) served by p2v-agent.  Before: its own kernel and initramfs
# cannot find the root on virtio-blk (the initramfs says so on the serial
# console).  After: the boot test reaches a login prompt, the report lists
# the changes and no failed unit (the guest's enp2s0 is pinned to the MAC
# of the VM's one NIC: a .link file in the output), the disk is named
# without the export's .raw, the libvirt XML validates, the output equals the converted
# overlay (qemu-img compare, the overlay re-pointed at the agent) and
# the source image is unchanged.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires qemu-img qemu-system-x86_64 guestfish virt-xml-validate jq sha256sum debootstrap

img=$(guest_debian12) || fail "cannot build the Debian guest"
sum_before=$(sha256sum <"$img")

# Before: the guest's kernel and initramfs, the disk on virtio-blk.  The
# guest has no console=ttyS0, so its kernel and initramfs are started
# directly with the guest's own root= plus a serial console and a short
# root wait; initramfs-tools then says on ttyS0 why it stops.
mkdir "$TEST_DIR/boot"
printf 'glob copy-out /boot/vmlinuz-* %s\nglob copy-out /boot/initrd.img-* %s\n' \
    "$TEST_DIR/boot" "$TEST_DIR/boot" | guestfish --ro -a "$img" -m /dev/sda1
qemu-img create -q -f qcow2 -F raw -b "$img" "$TEST_DIR/before.qcow2"
timeout 180 qemu-system-x86_64 -accel tcg -m 1024 -display none -no-reboot \
    -kernel "$(ls "$TEST_DIR"/boot/vmlinuz-*)" -initrd "$(ls "$TEST_DIR"/boot/initrd.img-*)" \
    -append "root=/dev/sda1 ro console=ttyS0 rootdelay=5 panic=-1" \
    -drive "file=$TEST_DIR/before.qcow2,format=qcow2,if=virtio" \
    -serial "file:$TEST_DIR/before.log" -nic none </dev/null &
qemu_pid=$!
stop_qemu() { kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; }
cleanup stop_qemu
for ((i = 0; i < 170; i++)); do
    grep -q -e "Gave up waiting for root" -e "login:" "$TEST_DIR/before.log" 2>/dev/null && break
    sleep 1
done
stop_qemu
grep -q "Gave up waiting for root" "$TEST_DIR/before.log" ||
    { tail -20 "$TEST_DIR/before.log" >&2; fail "the unconverted guest did not fail to find its root on virtio-blk"; }
! grep -q "login:" "$TEST_DIR/before.log" || fail "the unconverted guest booted on virtio-blk"
pass "before: no root on virtio-blk ($(grep -m1 -o 'ALERT!.*' "$TEST_DIR/before.log" | tr -s ' ' || true))"

port=$(free_port)
start_agent "$port" "$img"
out=$TEST_DIR/out
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" --target kvm \
    --name deb --boot-test --boot-timeout 420 --keep-work --json >"$TEST_DIR/stdout.json" ||
    { jq . "$TEST_DIR/stdout.json" >&2 || true; fail "p2v-convert run failed"; }
jq -e '.result.ok == true' "$TEST_DIR/stdout.json" >/dev/null || fail "--json did not print the report"

disk=$out/$(jq -r '.disks[0].output' "$out/report.json")
[ -f "$disk" ] || fail "no output disk $disk"
[ "$(basename "$disk")" = "deb-$(basename "$img" .raw).qcow2" ] ||
    fail "output disk $(basename "$disk"): the export's .raw was kept"
qemu-img check -q "$disk" || fail "qemu-img check finds errors in $disk"
jq -e '.boot_test.passed == true' "$out/report.json" >/dev/null ||
    { jq '.boot_test' "$out/report.json" >&2; fail "the boot test did not pass"; }
[ -s "$(jq -r '.boot_test.screenshot' "$out/report.json")" ] || fail "no boot test screenshot"
[ "$(jq -r '.boot_test.marker' "$out/report.json")" = login: ] || fail "the boot test did not await login:"
[ "$(jq -r '.vm_hardware | "\(.disk_bus) \(.nic_model)"' "$out/report.json")" = "virtio-blk virtio" ] ||
    fail "report: VM devices are not virtio-blk and virtio"
pass "after: the boot test reached a login prompt in $(jq .boot_test.seconds "$out/report.json") s"
# A clean boot: no unit failed.  Before the NIC was pinned, ifupdown's
# enp2s0 did not exist on the VM and networking.service failed.
jq -e '.boot_test.warnings == []' "$out/report.json" >/dev/null ||
    { jq '.boot_test.warnings' "$out/report.json" >&2; fail "the boot test saw failed units"; }
! grep -q "^  warning: " "$out/report.txt" || { grep "^  warning: " "$out/report.txt" >&2; fail "report.txt has warnings"; }
pass "no failed unit during the boot (report.json and report.txt)"

# The image's survey describes no host: the VM's one NIC got a MAC of
# run's choosing, and the guest's one configured interface is pinned to it.
mac=$(sed -n "s/.*<mac address='\([^']*\)'.*/\1/p" "$out/deb.xml")
[[ "$mac" =~ ^52:54:00(:[0-9a-f]{2}){3}$ ]] || fail "deb.xml: no generated MAC for the one NIC ('$mac')"
[ "$(grep -c "<interface " "$out/deb.xml")" = 1 ] || fail "deb.xml: not exactly one NIC"
guestfish --ro -a "$disk" -m /dev/sda1 cat /etc/systemd/network/10-p2v-enp2s0.link >"$TEST_DIR/link" ||
    fail "no .link file for enp2s0 in the output"
grep -qx "MACAddress=$mac" "$TEST_DIR/link" && grep -qx "Name=enp2s0" "$TEST_DIR/link" ||
    { cat "$TEST_DIR/link" >&2; fail "the .link file does not pin enp2s0 to $mac"; }
pass "enp2s0 pinned to the VM's MAC $mac"

for area in fstab bootloader initramfs; do
    jq -e --arg a "$area" '[.changes[] | select(.area == $a)] | length > 0' "$out/report.json" \
        >/dev/null || fail "report lists no $area change"
done
for phase in preflight inspect convert copy metadata verify boot-test; do
    [ "$(report_phase "$out" "$phase")" = ok ] || fail "phase $phase: $(report_phase "$out" "$phase")"
done
jq -e '.verification | length > 0 and all(.passed)' "$out/report.json" >/dev/null ||
    fail "report: verification missing or failed"
pass "report: changes, phases, verification"

virt-xml-validate "$out/deb.xml" domain >/dev/null || fail "deb.xml does not validate"
pass "libvirt XML validates"

overlay=$(ls "$out"/.p2v-work/*.qcow2)
export_name=$(jq -r '.disks[0].export' "$out/report.json")
same_as_overlay "$disk" "$overlay" "nbd://127.0.0.1:$port/$export_name" ||
    fail "output differs from the converted overlay"
pass "output equals the converted overlay"

[ "$(sha256sum <"$img")" = "$sum_before" ] || fail "the source image changed"
pass "source unchanged"
