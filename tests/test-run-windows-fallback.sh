#!/bin/bash
# A Windows guest and no virtio drivers for it (no --drivers, no
# /usr/share/virtio-win): with --require-drivers, run refuses (exit 12,
# one line, nothing copied); without, it warns and gives the VM a SATA
# disk with the in-box msahci made boot-start (its StartOverride
# removed) and an e1000 NIC (2008 R2), as the libvirt XML says.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget jq x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc

guest_windows 2k8r2 >/dev/null || fail "cannot build the phony Windows guests"

[ ! -e /usr/share/virtio-win ] || skip "/usr/share/virtio-win exists: drivers would be found"
refuse 2k8r2 12 'no virtio-win drivers .*--require-drivers refuses emulated devices' \
    --require-drivers

img=$(guest_windows 2k8r2)
port=$(free_port)
start_agent "$port" "$img"
out=$TEST_DIR/sata
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$out" --target kvm --name w8 \
    2>"$TEST_DIR/err" || { cat "$TEST_DIR/err" >&2; fail "run without drivers failed"; }
grep -q '^p2v-convert: warning: no virtio-win drivers.*SATA disk and an e1000 NIC' "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "no fallback warning"; }
disk=$out/$(jq -r '.disks[0].output' "$out/report.json")
hive_of "$disk" /dev/sda2 SYSTEM "$TEST_DIR/SYSTEM"
[ "$(reg_value "$TEST_DIR/SYSTEM" 'ControlSet002\Services\msahci' Start)" = 0 ] ||
    fail "msahci is not boot-start"
[ -z "$(reg_value "$TEST_DIR/SYSTEM" 'ControlSet002\Services\msahci\StartOverride' 0)" ] ||
    fail "msahci's StartOverride was kept"
grep -q "bus='sata'" "$out/w8.xml" || fail "w8.xml: the disk is not on SATA"
grep -q "model type='e1000'" "$out/w8.xml" || fail "w8.xml: the NIC is not e1000"
pass "no drivers: SATA with msahci boot-start, e1000, warned"
