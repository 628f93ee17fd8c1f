#!/bin/bash
# p2v-convert run refuses Windows guests it cannot convert, before the
# copy, with one error line and nothing but the report in the output
# folder: 32-bit Windows and Server 2003 at inspection (exit 11); a
# hibernated Windows, Select\Current different from Default, less than
# 100 MiB free on C:, BitLocker (-FVE-FS-) and a dynamic disk (MBR type
# 0x42) in the converter's preflight (exit 12); and, with
# --require-drivers, a KVM conversion without virtio drivers (exit 12),
# which without it falls back to SATA with msahci boot-start (warned).
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget jq x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc

guest_windows 2k8r2 >/dev/null || fail "cannot build the phony Windows guests"

# refuse VARIANT CODE PATTERN [RUN-ARGS...]
refuse() {
    local variant=$1 code=$2 pattern=$3 img port
    shift 3
    img=$(guest_windows "$variant")
    port=$(free_port)
    start_agent "$port" "$img"
    expect_refusal "$code" "$pattern" "$TEST_DIR/$variant" \
        --source "nbd://127.0.0.1:$port" --target kvm "$@"
    pass "$variant: $(run_errors "$TEST_DIR/err")"
}

refuse 32bit 11 'for i386: only 64-bit \(x86_64\) Windows can be converted'
refuse 2k3 11 'Windows NT 5\.2\): Windows older than 7 and Server 2008 R2 cannot be converted'
refuse hibernated 12 'is hibernated \(hiberfil\.sys holds a hibernation image\)'
refuse select 12 'boots ControlSet002 but its default is ControlSet001'
refuse full 12 'has [0-9]+ MiB free, the conversion needs 100 MiB'
refuse bitlocker 12 'encrypted with BitLocker \(partition 1\)'
refuse dynamic 12 'is a dynamic disk \(partition 1 has type 0x42\)'
refuse 2k8r2 12 'no virtio-win drivers .*--require-drivers refuses emulated devices' \
    --require-drivers

# Without --require-drivers: warned, SATA, msahci boot-start.
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
