#!/usr/bin/env bash
# Missing driver: an image built without e1000 (iso/build-iso
# --without-module e1000), booted on BIOS with qemu's e1000 NIC as its only
# network, names that NIC and its module on the console within 60 s of
# boot and powers off by itself (p2v.auto=1).  The same image with e1000
# added by `p2v-drivers add --image ISO --module e1000` boots on UEFI (so
# the rewritten ISO's EFI boot works too), dials out through that NIC and
# the disk arrives identical.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/live-helpers.sh"
requires jq sfdisk apt-get
[ -x "$P2V_CONVERT" ] || skip "$P2V_CONVERT is not built"
[ -x "$P2V_DRIVERS" ] || skip "$P2V_DRIVERS is not built"
[ -x "$P2V_SOURCE_DIR/iso/build-iso" ] || skip "iso/build-iso is not there"
iso=$(live_iso_without e1000)

# The image must really lack e1000 for this test to mean anything.
printf '00:03.0 Ethernet controller [0200]: Intel Corporation 82540EM Gigabit Ethernet Controller [8086:100e] (rev 03)\n' \
    >"$TEST_DIR/lspci.txt"
"$P2V_DRIVERS" list --linux "$iso" --json >"$TEST_DIR/list.json"
kver=$(jq -r .kernel "$TEST_DIR/list.json")
! jq -e '.modules[] | select(.name == "e1000" and .present)' "$TEST_DIR/list.json" >/dev/null ||
    fail "$iso has e1000 although built without it"

make_random_disk "$TEST_DIR/disk.img" 40
port=$(free_port)

# 1. No driver for the only NIC: reported, then a clean stop.
boot_live no-e1000 bios "p2v.server=10.0.2.2 p2v.port=$port p2v.mode=dial p2v.auto=1 p2v.insecure=1" 300 \
    -cdrom "$iso" -boot d \
    -drive "if=ide,index=0,media=disk,format=raw,file=$TEST_DIR/disk.img,snapshot=on" \
    -nic user,model=e1000
console_wait no-e1000 '8086:100e.*e1000' 60
echo "no-e1000: reported $(($(date +%s) - LIVE_START))s after qemu started"
live_powers_off 180
pass "the missing e1000 is named on the console and the guest powers off"

# 2. Add e1000 from the image's own kernel: the installed modules tree when
# it is that kernel, else the Debian package.
src=/lib/modules/$kver
if ! find "$src" -name 'e1000.ko*' 2>/dev/null | grep -q .; then
    src=$(ls /var/cache/p2v-iso/*/linux-image-"$kver"_*.deb /var/cache/p2v-iso/linux-image-"$kver"_*.deb \
              /var/tmp/p2v-test-cache/linux-image-"$kver"_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$src" ]; then
        mkdir -p /var/tmp/p2v-test-cache
        (cd /var/tmp/p2v-test-cache && apt-get download "linux-image-$kver" >/dev/null 2>&1) ||
            skip "apt-get download linux-image-$kver failed"
        src=$(ls /var/tmp/p2v-test-cache/linux-image-"$kver"_*.deb | head -1)
    fi
fi
echo "adding e1000 from $src"
"$P2V_DRIVERS" add --image "$iso" --from "$src" --module e1000 --out "$TEST_DIR/added.iso" ||
    fail "p2v-drivers add on the ISO failed"
"$P2V_DRIVERS" check --image "$TEST_DIR/added.iso" --devices "$TEST_DIR/lspci.txt" >/dev/null ||
    fail "p2v-drivers check still finds e1000 missing after add"

# 3. The extended image gets through, on UEFI.
out=$TEST_DIR/out
start_listener "$port" "$out" qcow2
boot_live added-e1000 uefi "p2v.server=10.0.2.2 p2v.port=$port p2v.mode=dial p2v.auto=1 p2v.insecure=1" 360 \
    -drive "if=none,id=cd,media=cdrom,readonly=on,format=raw,file=$TEST_DIR/added.iso" \
    -device ide-cd,drive=cd,bus=ide.0,bootindex=0 \
    -drive "if=none,id=src,format=raw,file=$TEST_DIR/disk.img,snapshot=on" \
    -device ide-hd,drive=src,bus=ide.1 \
    -nic user,model=e1000
wait_exit "$CONV_PID" 240 "p2v-convert copy --listen"
converter_done "$port"
live_powers_off 120
qemu-img compare -f raw -F qcow2 "$TEST_DIR/disk.img" "$(output_for "$TEST_DIR/disk.img" "$out" qcow2)" ||
    fail "the copy differs from its source"
check_survey "$out/survey.json" 1
pass "with e1000 added by p2v-drivers add, the image boots on UEFI and copies the disk"
