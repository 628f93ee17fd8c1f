#!/usr/bin/env bash
# p2v-live's hardware check and disk discovery on a fake machine: a sysfs
# tree with an e1000 NIC, a bnx2 NIC and a MegaRAID controller without
# drivers and an AHCI controller with one, against a catalog that
# p2v-drivers made from this machine's own kernel modules.  The check
# names each module, whether the image has it and the firmware it lacks;
# discovery skips the P2V_LIVE boot medium, optical, loop and zram devices;
# a machine without disks gets the large NO DISK FOUND message.
source "$(dirname "$0")/functions.sh"
requires jq nbdinfo xorriso

LIVE=$P2V_BUILD_DIR/p2v-live/p2v-live
DRV=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
kdir=$(ls -d /usr/lib/modules/*/kernel 2>/dev/null | head -1)
[ -n "$kdir" ] || skip "no kernel modules in /usr/lib/modules (apt-get install linux-image-amd64)"
kdir=${kdir%/kernel}
kver=${kdir##*/}

# A modules tree with the five modules; the catalog of it, as the image
# build makes kernel-catalog.json from the whole kernel package.
tree=$TEST_DIR/tree/lib/modules/$kver
for m in e1000 bnx2 megaraid_sas ahci libahci; do
    f=$(cd "$kdir" && find kernel -name "$m.ko*" | head -1)
    [ -n "$f" ] || skip "module $m is not in $kdir"
    mkdir -p "$tree/$(dirname "$f")"
    cp "$kdir/$f" "$tree/$f"
done
"$DRV" list --linux "$TEST_DIR/tree" --json >"$TEST_DIR/catalog.json" || fail "p2v-drivers list failed"
[ "$(jq '.modules | length' "$TEST_DIR/catalog.json")" = 5 ] || fail "the catalog should hold 5 modules"

# The image: ahci and megaraid_sas present, e1000 and bnx2 not; one of
# bnx2's firmware files present.
img=$TEST_DIR/image
for m in ahci libahci megaraid_sas; do
    f=$(jq -r ".modules[] | select(.name == \"$m\") | .path" "$TEST_DIR/catalog.json")
    mkdir -p "$img/modules/$kver/$(dirname "$f")"
    : >"$img/modules/$kver/$f"
done
mapfile -t bnx2_fw < <(jq -r '.modules[] | select(.name == "bnx2") | .firmware[]' "$TEST_DIR/catalog.json")
[ "${#bnx2_fw[@]}" -ge 2 ] || fail "bnx2 should ask for firmware"
mkdir -p "$img/firmware/$(dirname "${bnx2_fw[0]}")"
: >"$img/firmware/${bnx2_fw[0]}"

# The fake sysfs: PCI devices (class, ids, a driver link when bound).
sys=$TEST_DIR/sys
pci() {     # slot class vendor device [driver]
    local d=$sys/bus/pci/devices/$1
    mkdir -p "$d"
    echo "$2" >"$d/class"; echo "$3" >"$d/vendor"; echo "$4" >"$d/device"
    echo 0x1af4 >"$d/subsystem_vendor"; echo 0x1100 >"$d/subsystem_device"
    if [ -n "${5:-}" ]; then
        mkdir -p "$sys/bus/pci/drivers/$5"
        ln -s "../../drivers/$5" "$d/driver"
    fi
}
pci 0000:00:01.0 0x030000 0x1234 0x1111              # display without driver: not our business
pci 0000:00:03.0 0x020000 0x8086 0x100e              # e1000, no driver
pci 0000:00:04.0 0x010400 0x1000 0x005b              # MegaRAID SAS 2208, no driver
pci 0000:00:05.0 0x010000 0xdead 0xbeef              # a controller nobody knows
pci 0000:00:06.0 0x020000 0x14e4 0x164a              # bnx2, no driver
pci 0000:00:1f.2 0x010601 0x8086 0x2922 ahci         # AHCI, bound

roots=(--sysfs "$sys" --modules "$img/modules" --firmware "$img/firmware"
       --catalog "$TEST_DIR/catalog.json" --dev "$TEST_DIR/dev")
"$LIVE" --hwcheck "${roots[@]}" >"$TEST_DIR/hw.out" 2>"$TEST_DIR/hw.err" ||
    { cat "$TEST_DIR/hw.err"; fail "p2v-live --hwcheck failed"; }
{
    echo "hardware check: 3 storage and 2 network controller(s), 4 without a driver"
    echo "  0000:00:03.0 network controller 8086:100e has no driver: needs module e1000 (not in this image: add it with p2v-drivers add)"
    echo "  0000:00:04.0 storage controller 1000:005b has no driver: needs module megaraid_sas (in this image, but it did not load)"
    echo "  0000:00:05.0 storage controller dead:beef has no driver: no module of kernel $kver knows this device"
    echo "  0000:00:06.0 network controller 14e4:164a has no driver: needs module bnx2 (not in this image: add it with p2v-drivers add)"
    for fw in "${bnx2_fw[@]:1}"; do
        echo "    missing firmware $fw (package firmware-bnx2)"
    done
} >"$TEST_DIR/hw.expected"
diff -u "$TEST_DIR/hw.expected" "$TEST_DIR/hw.out" || fail "hardware check output differs"
[ ! -s "$TEST_DIR/hw.err" ] || { cat "$TEST_DIR/hw.err"; fail "unexpected messages"; }
pass "hardware check names e1000, bnx2 and its missing firmware, megaraid_sas"

# Without a catalog: a warning, the devices still listed.
"$LIVE" --hwcheck "${roots[@]}" --catalog "$TEST_DIR/none.json" >"$TEST_DIR/hw2.out" 2>"$TEST_DIR/hw2.err"
grep -q "warning: no kernel catalog at $TEST_DIR/none.json: missing drivers cannot be named" "$TEST_DIR/hw2.err" ||
    { cat "$TEST_DIR/hw2.err"; fail "no catalog warning"; }
grep -q "0000:00:03.0 network controller 8086:100e has no driver: the module is unknown" "$TEST_DIR/hw2.out" ||
    fail "without a catalog the NIC is not listed"
# A broken catalog is named, not trusted.
echo '{"kernel": "6.1", "modules": [{"name": 7}]}' >"$TEST_DIR/bad.json"
"$LIVE" --hwcheck "${roots[@]}" --catalog "$TEST_DIR/bad.json" >/dev/null 2>"$TEST_DIR/hw3.err"
grep -q "bad.json: not a kernel catalog (p2v-drivers list --json): modules\[0\] is not a module" "$TEST_DIR/hw3.err" ||
    { cat "$TEST_DIR/hw3.err"; fail "a broken catalog is not reported"; }
pass "a missing or broken catalog is a warning"

# Disks: sda (a 4 MiB "disk"), sdb holding the P2V_LIVE ISO (the boot
# medium), sr0, loop0 and zram0; only sda is served.
blk() {     # name sectors
    mkdir -p "$sys/block/$1"
    echo "$2" >"$sys/block/$1/size"
}
mkdir -p "$TEST_DIR/dev" "$TEST_DIR/iso"
truncate -s 4M "$TEST_DIR/dev/sda"
printf 'p2v live test disk' | dd of="$TEST_DIR/dev/sda" bs=1 seek=1048576 conv=notrunc status=none
echo hello >"$TEST_DIR/iso/hello.txt"
xorriso -as mkisofs -quiet -V P2V_LIVE -o "$TEST_DIR/dev/sdb" "$TEST_DIR/iso" 2>/dev/null ||
    fail "xorriso could not make an ISO"
cp "$TEST_DIR/dev/sdb" "$TEST_DIR/dev/sr0"
cp "$TEST_DIR/dev/sda" "$TEST_DIR/dev/loop0"
blk sda 8192; blk sdb 1024; blk sr0 1024; blk loop0 8192; blk zram0 8192; blk sdc 0

port=$(free_port)
"$LIVE" "${roots[@]}" --settings "p2v.mode=serve p2v.auto=1" --no-network \
    --listen "127.0.0.1:$port" >"$TEST_DIR/serve.out" 2>&1 &
pid=$!
stop_live() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
cleanup stop_live
wait_for_port "$port" 30 || { cat "$TEST_DIR/serve.out"; exit 1; }
nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json" || fail "nbdinfo --list failed"
exports=$(jq -r '[.exports[]."export-name"] | map(select(startswith("p2v:") | not)) | join(",")' "$TEST_DIR/list.json")
[ "$exports" = "sda" ] || { cat "$TEST_DIR/serve.out"; fail "served exports are '$exports', expected sda only"; }
grep -q "sdb is this image's boot medium (P2V_LIVE): not served" "$TEST_DIR/serve.out" ||
    fail "the boot medium is not named"
stop_live
pass "discovery serves sda only: not the P2V_LIVE medium, sr0, loop0, zram0 or an empty sdc"

# p2v.disks names a disk the machine lacks: one clear line.
status=0
"$LIVE" "${roots[@]}" --settings "p2v.mode=serve p2v.disks=sdz" --no-network \
    --listen "127.0.0.1:$port" >"$TEST_DIR/sdz.out" 2>&1 || status=$?
[ "$status" = 1 ] || fail "p2v.disks=sdz should fail with status 1, not $status"
grep -q "p2v.disks names sdz, which this machine does not have" "$TEST_DIR/sdz.out" ||
    { cat "$TEST_DIR/sdz.out"; fail "p2v.disks=sdz is not explained"; }

# No disk at all: the banner, status 1 (as PID 1 it would power off).
rm -rf "$sys/block"/*
status=0
"$LIVE" "${roots[@]}" --settings "p2v.mode=serve p2v.auto=1" --no-network \
    >"$TEST_DIR/nodisk.out" 2>&1 || status=$?
[ "$status" = 1 ] || fail "no disk should end with status 1, not $status"
grep -q '^##  NO DISK FOUND' "$TEST_DIR/nodisk.out" || { cat "$TEST_DIR/nodisk.out"; fail "no NO DISK FOUND banner"; }
grep -q "^##  0000:00:04.0 1000:005b needs module megaraid_sas (did not load) " "$TEST_DIR/nodisk.out" ||
    fail "the banner does not point at the missing drivers"
pass "no disk: a large message and a clean stop"
