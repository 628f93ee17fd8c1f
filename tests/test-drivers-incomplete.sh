#!/usr/bin/env bash
# p2v-drivers on an initramfs whose ahci is there but incomplete (libata
# missing) and without e1000: check reports both blockers with exit 3 (2
# is kept for usage errors); add --devices completes ahci and adds e1000,
# printing one line per file it adds; check then exits 0 and modprobe
# resolves ahci with libata from what the kernel would unpack.  An image
# with e100 but none of its firmware gets the firmware the same way.
source "$(dirname "$0")/functions.sh"
PATH=$PATH:/usr/sbin:/sbin   # kmod's tools
requires cpio gzip depmod modprobe

DRV=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
# Any installed kernel whose modules tree has ahci, libata and e1000 as modules.
kver=
for d in /lib/modules/*/; do
    d=${d%/}
    if find "$d/kernel/drivers/ata" -name 'libata.ko*' 2>/dev/null | grep -q . &&
       find "$d/kernel/drivers/net" -name 'e1000.ko*' 2>/dev/null | grep -q .; then
        kver=${d##*/}; break
    fi
done
[ -n "$kver" ] || skip "no /lib/modules tree with libata and e1000 (install linux-image-amd64)"
[ "$(modinfo -b / -k "$kver" -F depends ahci)" = libahci,libata ] ||
    skip "ahci of $kver does not depend on libahci and libata"
# SOURCE: a small modules tree cut from the host's (the whole one takes a
# minute to catalog under ASan).
src=$TEST_DIR/src/lib/modules/$kver
mkdir -p "$src"
(cd "/lib/modules/$kver" && find kernel \( -name 'ahci.ko*' -o -name 'libahci.ko*' -o -name 'libata.ko*' \
     -o -name 'scsi_mod.ko*' -o -name 'scsi_common.ko*' -o -name 'e1000.ko*' -o -name 'e100.ko*' \
     -o -name 'mii.ko*' \) | cpio -pdm --quiet "$src")

# The image: ahci and libahci, scsi_mod and scsi_common, but not libata
# (which both ahci and libahci need) and no e1000.
root=$TEST_DIR/root
mkdir -p "$root/lib/modules/$kver"
(cd "$src" && find kernel \( -name 'ahci.ko*' -o -name 'libahci.ko*' -o -name 'scsi_mod.ko*' \
                              -o -name 'scsi_common.ko*' \) | cpio -pdm --quiet "$root/lib/modules/$kver")
depmod -b "$root" "$kver" 2>/dev/null
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$TEST_DIR/initrd.img"

cat >"$TEST_DIR/lspci.txt" <<'LSPCI'
00:1f.2 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [8086:2922] (rev 02) (prog-if 01 [AHCI 1.0])
00:03.0 Ethernet controller [0200]: Intel Corporation 82540EM Gigabit Ethernet Controller [8086:100e] (rev 03)
LSPCI

# Usage errors: exit 2.
for args in "check --image $TEST_DIR/initrd.img" "check --bogus" "add --image $TEST_DIR/initrd.img" \
            "list" "frobnicate"; do
    status=0
    # shellcheck disable=SC2086
    "$DRV" $args >/dev/null 2>&1 || status=$?
    [ "$status" -eq 2 ] || fail "usage error 'p2v-drivers $args' should exit 2, not $status"
done
pass "usage errors exit 2"

# check: both blockers, exit 3; ahci is named incomplete, for want of libata.
status=0
"$DRV" check --image "$TEST_DIR/initrd.img" --devices "$TEST_DIR/lspci.txt" --catalog "$src" \
    >"$TEST_DIR/check.out" 2>"$TEST_DIR/check.err" || status=$?
cat "$TEST_DIR/check.out" "$TEST_DIR/check.err"
[ "$status" -eq 3 ] || fail "check should exit 3 (blockers), not $status"
grep -q "^p2v-drivers: incomplete driver for 0000:00:1f.2 storage controller 8086:2922: module ahci needs module libata, which the image lacks$" \
    "$TEST_DIR/check.err" || fail "check does not say ahci lacks libata"
grep -q "0000:00:03.0 network controller 8086:100e: add module e1000" "$TEST_DIR/check.err" ||
    fail "check does not name e1000"
pass "check: blockers exit 3, the incomplete ahci named"

# add --devices: exactly the missing files, one line each, then check passes.
"$DRV" add --image "$TEST_DIR/initrd.img" --from "$src" --devices "$TEST_DIR/lspci.txt" \
    --out "$TEST_DIR/new.img" >"$TEST_DIR/add.out" 2>"$TEST_DIR/add.err" ||
    { cat "$TEST_DIR/add.err" >&2; fail "add failed"; }
cat "$TEST_DIR/add.out"
# In device order: the SATA controller's ahci first, then the NIC's e1000.
printf 'added dependency libata (of module ahci)\nadded module e1000\n' >"$TEST_DIR/add.want"
diff "$TEST_DIR/add.out" "$TEST_DIR/add.want" || fail "add should print exactly the two files it added"
"$DRV" check --image "$TEST_DIR/new.img" --devices "$TEST_DIR/lspci.txt" >"$TEST_DIR/check2.out" 2>&1 ||
    { cat "$TEST_DIR/check2.out" >&2; fail "check still finds blockers after add --devices"; }
pass "add --devices completes ahci with libata and adds e1000; check exits 0"

# What the kernel would unpack: modprobe loads libata before ahci.
mkdir "$TEST_DIR/x"
(cd "$TEST_DIR/x" && { gzip -dc "$TEST_DIR/new.img" 2>/dev/null || true; } | cpio -i -d --quiet 2>/dev/null || true)
skip_bytes=$(stat -c %s "$TEST_DIR/initrd.img")
skip_bytes=$(( (skip_bytes + 3) / 4 * 4 ))   # add pads the old image to 4 bytes
(cd "$TEST_DIR/x" && tail -c +$((skip_bytes + 1)) "$TEST_DIR/new.img" | cpio -i -d -u --quiet)
modprobe -d "$TEST_DIR/x" -S "$kver" --show-depends ahci >"$TEST_DIR/ahci.deps" ||
    fail "modprobe --show-depends ahci fails on the new image"
grep -q "^insmod $TEST_DIR/x/lib/modules/$kver/.*/libata\.ko" "$TEST_DIR/ahci.deps" ||
    { cat "$TEST_DIR/ahci.deps" >&2; fail "modprobe does not load libata before ahci"; }
pass "modprobe resolves ahci with libata in the new image"

# Incomplete for want of firmware: e100 and mii there, none of the three
# firmware files e100 may load.  SOURCE: a modules tree with one of them.
fwsrc=$TEST_DIR/fwsrc
mkdir -p "$fwsrc/lib/modules/$kver" "$fwsrc/lib/firmware/e100" "$TEST_DIR/root2/lib/modules/$kver"
(cd "$src" && find kernel \( -name 'e100.ko*' -o -name 'mii.ko*' \) | cpio -pdm --quiet "$fwsrc/lib/modules/$kver")
[ "$(find "$fwsrc" -name '*.ko*' | wc -l)" -eq 2 ] || skip "no e100 and mii modules in $src"
printf 'not really microcode\n' >"$fwsrc/lib/firmware/e100/d101m_ucode.bin"
(cd "$fwsrc/lib/modules/$kver" && find kernel | cpio -pdm --quiet "$TEST_DIR/root2/lib/modules/$kver")
depmod -b "$TEST_DIR/root2" "$kver" 2>/dev/null
(cd "$TEST_DIR/root2" && find . | cpio -o -H newc --quiet | gzip -1) >"$TEST_DIR/e100.img"
printf '00:04.0 Ethernet controller [0200]: Intel Corporation 82557/8/9/0/1 Ethernet Pro 100 [8086:1229] (rev 08)\n' \
    >"$TEST_DIR/e100.txt"
status=0
"$DRV" check --image "$TEST_DIR/e100.img" --devices "$TEST_DIR/e100.txt" >/dev/null 2>"$TEST_DIR/check3.err" ||
    status=$?
[ "$status" -eq 3 ] || { cat "$TEST_DIR/check3.err" >&2; fail "check without e100's firmware should exit 3, not $status"; }
grep -q "8086:1229: module e100 needs firmware e100/" "$TEST_DIR/check3.err" ||
    { cat "$TEST_DIR/check3.err" >&2; fail "check does not name e100's missing firmware"; }
"$DRV" add --image "$TEST_DIR/e100.img" --from "$fwsrc" --devices "$TEST_DIR/e100.txt" \
    --out "$TEST_DIR/e100-new.img" >"$TEST_DIR/add3.out" 2>"$TEST_DIR/add3.err" ||
    { cat "$TEST_DIR/add3.err" >&2; fail "add of e100's firmware failed"; }
cat "$TEST_DIR/add3.out"
[ "$(cat "$TEST_DIR/add3.out")" = "added firmware e100/d101m_ucode.bin (for module e100)" ] ||
    fail "add should print exactly the one firmware file it added"
"$DRV" check --image "$TEST_DIR/e100-new.img" --devices "$TEST_DIR/e100.txt" >"$TEST_DIR/check4.out" 2>&1 ||
    { cat "$TEST_DIR/check4.out" >&2; fail "check still finds blockers after adding e100's firmware"; }
pass "add --devices completes e100 with its firmware; check exits 0"
