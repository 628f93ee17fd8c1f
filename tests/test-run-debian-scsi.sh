#!/bin/bash
# p2v-convert run --target kvm --block-driver virtio-scsi --boot-test on the
# cached Debian 12 guest (tests/guest-helpers.sh: MODULES=list, an
# initramfs with only SATA/IDE drivers and sd_mod).  The conversion puts
# virtio_scsi into the guest's initramfs configuration, the VM gets one
# virtio-scsi controller with the disk as sda (libvirt XML validates), the
# report says virtio-scsi and virtio, and the boot test, on virtio-scsi-pci
# + scsi-hd, reaches the login prompt.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires qemu-img qemu-system-x86_64 virt-xml-validate xmllint jq debootstrap

img=$(guest_debian12) || fail "cannot build the Debian guest"
port=$(free_port)
start_agent "$port" "$img"
out=$TEST_DIR/out
t0=$SECONDS
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" --target kvm --name deb \
    --block-driver virtio-scsi --boot-test --boot-timeout 420 2>"$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; jq '.boot_test' "$out/report.json" >&2 || true; fail "p2v-convert run failed"; }
echo "run with the boot test took $((SECONDS - t0)) s"

jq -e '[.changes[] | select(.area == "initramfs" and (.description | test("virtio_scsi")))] | length == 1' \
    "$out/report.json" >/dev/null || { jq '.changes' "$out/report.json" >&2; fail "virtio_scsi not added to the initramfs"; }
pass "virtio_scsi added to the guest's initramfs configuration"

virt-xml-validate "$out/deb.xml" domain >/dev/null || fail "deb.xml does not validate"
x() { xmllint --xpath "$1" "$out/deb.xml"; }
[ "$(x "count(//controller[@type='scsi'][@model='virtio-scsi'])")" = 1 ] || fail "deb.xml: no virtio-scsi controller"
[ "$(x 'string(//disk/target/@bus)')" = scsi ] && [ "$(x 'string(//disk/target/@dev)')" = sda ] ||
    fail "deb.xml: the disk is not sda on the SCSI bus"
[ "$(x 'string(//interface/model/@type)')" = virtio ] || fail "deb.xml: the NIC is not virtio"
[ "$(jq -r '.vm_hardware | "\(.disk_bus) \(.nic_model)"' "$out/report.json")" = "virtio-scsi virtio" ] ||
    fail "report: VM devices are not virtio-scsi and virtio"
pass "libvirt XML: one virtio-scsi controller, sda on it; report: virtio-scsi, virtio"

jq -e '.boot_test.passed == true and .boot_test.marker == "login:"' "$out/report.json" >/dev/null ||
    { jq '.boot_test' "$out/report.json" >&2; fail "the boot test on virtio-scsi did not pass"; }
jq -e '.boot_test.warnings == []' "$out/report.json" >/dev/null ||
    { jq '.boot_test.warnings' "$out/report.json" >&2; fail "the boot test saw failed units"; }
pass "boot test on virtio-scsi: login prompt after $(jq .boot_test.seconds "$out/report.json") s ($(jq -r .boot_test.accelerator "$out/report.json"))"
