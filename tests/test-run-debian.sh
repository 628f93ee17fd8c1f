#!/bin/bash
# p2v-convert run --target kvm --boot-test on a real Debian 12 guest
# (tests/guest-helpers.sh: /dev/sda names, an initramfs with only SATA/IDE
# drivers) served by p2v-agent.  Before: its own kernel and initramfs
# cannot find the root on virtio-blk (the initramfs says so on the serial
# console).  After: the boot test reaches a login prompt, the report lists
# the guest (debian12, BIOS) and the changes (the HPE agent among them)
# and no failed unit, the disk is named without the export's .raw, the
# libvirt XML validates, the output equals the converted overlay
# (qemu-img compare, the overlay re-pointed at the agent; the overlay was
# backed by the source) and the source image is unchanged.  This is the
# one full Linux conversion of the suite, so the output is also checked
# with guestfish: fstab and grub.cfg by UUID, console=ttyS0, no /dev/sd
# left in grub.cfg, no device.map, virtio_blk and virtio_pci in the
# initramfs, the vendor agent disabled (its unit file kept), the guest's
# enp2s0 pinned to the MAC of the VM's one NIC by a .link file.  The
# conversion's libguestfs launch runs as the product does (KVM first,
# TCG after a hang, said at most once).
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
# Without force_tcg (run-helpers.sh sets it): libguestfs tries KVM first,
# as the product does, and falls back to TCG at most once.
env -u LIBGUESTFS_BACKEND_SETTINGS "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" \
    --target kvm --name deb --boot-test --boot-timeout 420 --keep-work --json \
    >"$TEST_DIR/stdout.json" 2>"$TEST_DIR/stderr" ||
    { cat "$TEST_DIR/stderr" >&2; jq . "$TEST_DIR/stdout.json" >&2 || true; fail "p2v-convert run failed"; }
cat "$TEST_DIR/stderr"
echo "phases: $(jq -r '[.phases[] | "\(.phase) \(.seconds | floor) s"] | join(", ")' "$out/report.json")"
jq -e '.result.ok == true' "$TEST_DIR/stdout.json" >/dev/null || fail "--json did not print the report"
[ "$(grep -c 'using TCG' "$TEST_DIR/stderr")" -le 1 ] || fail "the TCG fallback was announced more than once"
[ "$(jq -r '.guest | "\(.osinfo) \(.uefi)"' "$out/report.json")" = "debian12 false" ] ||
    { jq '.guest' "$out/report.json" >&2; fail "inspection did not say debian12 with BIOS"; }
jq -e '[.changes[] | select(.area == "services" and
        ("\(.file // ""): \(.description)" | test("hp-health[.]service.*HPE")))] | length > 0' \
    "$out/report.json" >/dev/null || { jq '.changes' "$out/report.json" >&2; fail "the vendor agent is not in the changes"; }
pass "inspection: debian12, BIOS; the HPE agent in the changes"

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
# The converted guest, read from the output with one guestfish (the
# output equals the overlay, checked below).
guestfish --ro -a "$disk" -m /dev/sda1 <<'EOF' >"$TEST_DIR/guest.txt" 2>&1 || { cat "$TEST_DIR/guest.txt" >&2; fail "guestfish on the output failed"; }
echo ==fstab
cat /etc/fstab
echo ==grub
sh "grep -E '^[[:space:]]*linux[[:space:]]' /boot/grub/grub.cfg"
echo ==grubdev
sh "grep -c '/dev/sd' /boot/grub/grub.cfg || true"
echo ==initrd
sh "lsinitramfs /boot/initrd.img-* | grep -E '/(virtio_blk|virtio_pci)[.]ko' | sed 's|.*/||' | sort"
echo ==agent
is-symlink /etc/systemd/system/multi-user.target.wants/hp-health.service
is-file /etc/systemd/system/hp-health.service
echo ==link
cat /etc/systemd/network/10-p2v-enp2s0.link
echo ==devicemap
exists /boot/grub/device.map
echo ==end
EOF
section() { sed -n "/^==$1\$/,/^==/p" "$TEST_DIR/guest.txt" | sed '1d;/^==/d;/^$/d'; }
section fstab | grep -q '^UUID=[0-9a-f-]* */ ' || { section fstab; fail "fstab: / is not by UUID"; }
section fstab | grep -q '^UUID=[0-9a-f-]* *none *swap' || { section fstab; fail "fstab: swap is not by UUID"; }
! section fstab | grep -q '/dev/sd' || { section fstab; fail "fstab still names /dev/sd"; }
section grub | grep -q 'root=UUID=' || { section grub; fail "grub.cfg: root= is not by UUID"; }
section grub | grep -q 'console=ttyS0,115200' || { section grub; fail "grub.cfg: no console=ttyS0"; }
[ "$(section grubdev)" = 0 ] || { cat "$TEST_DIR/guest.txt"; fail "grub.cfg still names /dev/sd"; }
[ "$(section initrd | tr '\n' ' ')" = "virtio_blk.ko virtio_pci.ko " ] ||
    { section initrd; fail "the initramfs lacks virtio_blk or virtio_pci"; }
[ "$(section agent | tr '\n' ' ')" = "false true " ] ||
    { section agent; fail "hp-health.service is still enabled (or its unit file is gone)"; }
[ "$(section devicemap)" = false ] || fail "grub's device.map is still there"
pass "the output holds the converted guest: fstab, grub.cfg, initramfs, agent, device.map"
section link >"$TEST_DIR/link"
[ -s "$TEST_DIR/link" ] || fail "no .link file for enp2s0 in the output"
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
# The conversion wrote an overlay backed by the source (as run serves it
# to qemu on its private socket), never the source.
backing=$(qemu-img info --output=json "$overlay" | jq -r '."backing-filename"')
[[ "$backing" == "nbd+unix:///$export_name?socket="* ]] || fail "the overlay is not backed by the source: $backing"
same_as_overlay "$disk" "$overlay" "nbd://127.0.0.1:$port/$export_name" ||
    fail "output differs from the converted overlay"
pass "output equals the converted overlay"

[ "$(sha256sum <"$img")" = "$sum_before" ] || fail "the source image changed"
pass "source unchanged"
