#!/usr/bin/env bash
# p2v-drivers add on an ISO image: a small hybrid ISO (isolinux for BIOS,
# an El Torito EFI image, isohybrid MBR + GPT) with an initramfs lacking
# e1000 gets it from the host's modules tree; xorriso sees the same boot
# setup in the new image, the new /live/initrd.img is the old one plus an
# archive kmod resolves e1000 from, and the same input gives the same bytes.
source "$(dirname "$0")/functions.sh"
PATH=$PATH:/usr/sbin:/sbin   # kmod's tools
requires xorriso cpio gzip depmod modprobe mkfs.vfat

DRV=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
ISOLINUX=/usr/lib/ISOLINUX
[ -f $ISOLINUX/isolinux.bin ] && [ -f $ISOLINUX/isohdpfx.bin ] || skip "isolinux is not installed"
# Any kernel whose modules tree is installed and has e1000 and virtio_net.
kver=
for d in /lib/modules/*/; do
    d=${d%/}
    if find "$d/kernel/drivers/net" -name 'e1000.ko*' 2>/dev/null | grep -q . &&
       find "$d/kernel/drivers/net" -name 'virtio_net.ko*' 2>/dev/null | grep -q .; then
        kver=${d##*/}; break
    fi
done
[ -n "$kver" ] || skip "no /lib/modules tree with e1000 (install linux-image-amd64)"
src=/lib/modules/$kver

# The image: virtio_net and its dependencies, no e1000; merged /usr like
# Debian's (lib -> usr/lib), which add must not break.
root=$TEST_DIR/root
mkdir -p "$root/usr/lib/modules/$kver"
ln -s usr/lib "$root/lib"
(cd "$src" && find kernel -name 'virtio_net.ko*' -o -name 'net_failover.ko*' -o -name 'failover.ko*' |
     cpio -pdm --quiet "$root/usr/lib/modules/$kver")
depmod -b "$root" "$kver" 2>/dev/null
tree=$TEST_DIR/tree
mkdir -p "$tree/live" "$tree/isolinux" "$tree/EFI/boot"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -1 -n) >"$tree/live/initrd.img"
printf 'kernel\n' >"$tree/live/vmlinuz"
cp $ISOLINUX/isolinux.bin "$tree/isolinux/"
printf 'default live\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img\n' \
    >"$tree/isolinux/isolinux.cfg"
mkfs.vfat -C "$tree/EFI/boot/efi.img" 1440 >/dev/null
SOURCE_DATE_EPOCH=1700000000 xorriso -as mkisofs -quiet -o "$TEST_DIR/in.iso" -V P2V_LIVE -R -J \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    -isohybrid-mbr $ISOLINUX/isohdpfx.bin \
    -eltorito-alt-boot -e EFI/boot/efi.img -no-emul-boot -isohybrid-gpt-basdat "$tree" 2>/dev/null ||
    fail "xorriso cannot build the test ISO"
cp "$TEST_DIR/in.iso" "$TEST_DIR/in.copy"

# check names e1000's device as missing in the ISO.
printf '00:03.0 Ethernet controller [0200]: Intel Corporation 82540EM Gigabit Ethernet Controller [8086:100e] (rev 03)\n' \
    >"$TEST_DIR/lspci.txt"
status=0
"$DRV" check --image "$TEST_DIR/in.iso" --devices "$TEST_DIR/lspci.txt" --catalog "$src" \
    >/dev/null 2>"$TEST_DIR/check.err" || status=$?
[ "$status" -eq 3 ] || { cat "$TEST_DIR/check.err"; fail "check should exit 3 on the ISO without e1000, not $status"; }
grep -q "add module e1000" "$TEST_DIR/check.err" || fail "check does not name e1000"

"$DRV" add --image "$TEST_DIR/in.iso" --from "$src" --module e1000 --out "$TEST_DIR/out.iso" ||
    fail "add on an ISO failed"
cmp -s "$TEST_DIR/in.iso" "$TEST_DIR/in.copy" || fail "add changed its input"
ls "$TEST_DIR" | grep -q 'tmp' && fail "add left a temporary file: $(ls "$TEST_DIR")"
"$DRV" check --image "$TEST_DIR/out.iso" --devices "$TEST_DIR/lspci.txt" >/dev/null ||
    fail "check fails on the ISO after add"
pass "add on an ISO makes check pass"

# The same boot setup, as xorriso reports it (block addresses aside).
boot_setup() {
    xorriso -indev "$1" -report_el_torito as_mkisofs -report_system_area plain 2>/dev/null |
        grep -v -e '^-isohybrid-mbr --interval' -e 'image size' -e 'partition  *: ' \
                -e 'start and size' -e 'lba range' -e 'modification-date'
}
boot_setup "$TEST_DIR/in.iso" >"$TEST_DIR/boot.in"
boot_setup "$TEST_DIR/out.iso" >"$TEST_DIR/boot.out"
grep -q "^-b '/isolinux/isolinux.bin'" "$TEST_DIR/boot.out" || fail "no BIOS boot entry in the new ISO"
grep -q "^-e '/EFI/boot/efi.img'" "$TEST_DIR/boot.out" || fail "no EFI boot entry in the new ISO"
grep -q "^-boot-info-table" "$TEST_DIR/boot.out" || fail "isolinux's boot info table is not patched"
grep -q "MBR isohybrid.*GPT" "$TEST_DIR/boot.out" || fail "the new ISO is not hybrid (MBR + GPT)"
diff "$TEST_DIR/boot.in" "$TEST_DIR/boot.out" || fail "the boot setup differs"
[ "$(xorriso -indev "$TEST_DIR/out.iso" -pvd_info 2>/dev/null | sed -n "s/^Volume Id *: //p")" = P2V_LIVE ] ||
    fail "the volume id changed"
# isolinux finds its own location through the boot info table: it must
# name the LBA where isolinux.bin now sits.
lba=$(xorriso -indev "$TEST_DIR/out.iso" -find /isolinux/isolinux.bin -exec report_lba -- 2>/dev/null |
      awk -F' *, *' '/^File data lba:/ {print $2; exit}')
[ -n "$lba" ] || fail "cannot find isolinux.bin's LBA"
info_lba=$(dd if="$TEST_DIR/out.iso" bs=1 skip=$((lba * 2048 + 12)) count=4 2>/dev/null | od -An -tu4 | tr -d ' ')
[ "$info_lba" = "$lba" ] || fail "isolinux's boot info table says LBA $info_lba, not $lba"
pass "the boot setup is kept"

# What the kernel unpacks: the old archive, then e1000 and fresh indexes.
mkdir "$TEST_DIR/x"
xorriso -osirrox on -indev "$TEST_DIR/out.iso" -extract /live/initrd.img "$TEST_DIR/new.img" 2>/dev/null
old=$(stat -c %s "$tree/live/initrd.img")
cmp -s -n "$old" "$tree/live/initrd.img" "$TEST_DIR/new.img" || fail "the old initramfs is not kept as is"
tail -c +$(( (old + 3) / 4 * 4 + 1 )) "$TEST_DIR/new.img" >"$TEST_DIR/added.cpio"
# The kernel replaces an entry by one of another type: a directory "lib"
# would hide the image's lib -> usr/lib and every module behind it.
cpio -t --quiet <"$TEST_DIR/added.cpio" >"$TEST_DIR/added.list"
! grep -Eqx 'lib|usr|usr/lib' "$TEST_DIR/added.list" ||
    fail "the added archive replaces the image's merged-/usr layout: $(grep -Ex 'lib|usr|usr/lib' "$TEST_DIR/added.list")"
(cd "$TEST_DIR/x" && gzip -dc "$tree/live/initrd.img" | cpio -i -d --quiet &&
     cpio -i -d -u --quiet <"$TEST_DIR/added.cpio")
[ -L "$TEST_DIR/x/lib" ] || fail "lib is no longer a symlink"
find "$TEST_DIR/x" -name 'e1000.ko*' | grep -q . || fail "e1000.ko not in the new initramfs"
[ "$(modprobe -d "$TEST_DIR/x" -S "$kver" -R 'pci:v00008086d0000100Esv*sd*bc02sc00i*')" = e1000 ] ||
    fail "modprobe does not resolve the 82540EM to e1000 in the new initramfs"
modprobe -d "$TEST_DIR/x" -S "$kver" --show-depends virtio_net >/dev/null ||
    fail "modprobe lost the image's own virtio_net"
pass "the new initramfs has e1000 and indexes"

# Reproducible: the same input gives the same bytes, whenever it runs.
touch -d '2001-02-03' "$TEST_DIR/in.iso"
"$DRV" add --image "$TEST_DIR/in.iso" --from "$src" --module e1000 --out "$TEST_DIR/again.iso"
cmp "$TEST_DIR/out.iso" "$TEST_DIR/again.iso" || fail "two runs on the same input differ"
pass "reproducible"

# Errors: one line, no output left behind.
printf 'not an iso' >"$TEST_DIR/junk.bin"
expect_error "no module nosuchmod" "$DRV" add --image "$TEST_DIR/in.iso" --from "$src" \
    --module nosuchmod --out "$TEST_DIR/never.iso"
[ ! -e "$TEST_DIR/never.iso" ] || fail "a failed add left its output"
mkdir "$TEST_DIR/bin"
ln -s /bin/false "$TEST_DIR/bin/xorriso"
PATH=$TEST_DIR/bin:$PATH expect_error "cannot write the ISO image with xorriso" \
    "$DRV" add --image "$TEST_DIR/in.iso" --from "$src" --module e1000 --out "$TEST_DIR/never.iso"
[ -z "$(ls "$TEST_DIR" | grep -e never -e tmp)" ] || fail "a failed xorriso left files: $(ls "$TEST_DIR")"
pass "errors"
