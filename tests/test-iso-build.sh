#!/usr/bin/env bash
# iso/build-iso: the live image is reproducible (two builds, same bytes),
# hybrid (BIOS and EFI El Torito entries, MBR and GPT), and its initramfs
# holds p2v-live, busybox, the kernel catalog and e1000 -- which an image
# built with --without-module e1000 lacks.  Packages come from the cache
# (P2V_ISO_CACHE, default /var/cache/p2v-iso; the first run downloads them).
# labels: slow
source "$(dirname "$0")/functions.sh"
PATH=$PATH:/usr/sbin:/sbin
requires xorriso zstd cpio jq mkfs.vfat mcopy apt-get dpkg-deb depmod
[ "$(id -u)" = 0 ] || skip "build-iso needs root (it creates dev/console in the initramfs)"
[ -x "$P2V_BUILD_DIR/p2v-live/p2v-live" ] || skip "p2v-live is not built (cmake --build $P2V_BUILD_DIR --target p2v-live)"
BUILD_ISO=$P2V_SOURCE_DIR/iso/build-iso

build() { # OUT ARGS...: build, fail with build-iso's message
    local out=$1; shift
    "$BUILD_ISO" --build-dir "$P2V_BUILD_DIR" --out "$out" "$@" >"$out.log" 2>&1 ||
        { cat "$out.log" >&2; fail "build-iso --out $out $* failed"; }
    grep -E "^build-iso: $out: [0-9]+ MiB .*took [0-9]+ s$" "$out.log" ||
        { cat "$out.log" >&2; fail "build-iso did not print the size and the time"; }
}

build "$TEST_DIR/one.iso"
build "$TEST_DIR/two.iso"
cmp "$TEST_DIR/one.iso" "$TEST_DIR/two.iso" || fail "two builds from the same inputs differ"
pass "two builds are identical"

iso=$TEST_DIR/one.iso
# The package list: every package by name=version, the kernel among them.
grep -Eq '^linux-image-[0-9].*-amd64=' "$TEST_DIR/one.packages" || fail "no kernel in one.packages"
grep -Eq '^shim-signed=' "$TEST_DIR/one.packages" || fail "no shim-signed in one.packages"
if grep -Ev '^[a-z0-9][a-z0-9.+-]+=[0-9][A-Za-z0-9.+~:-]*$' "$TEST_DIR/one.packages"; then
    fail "lines of one.packages above are not name=version"
fi

# Boot records: El Torito BIOS (isolinux) and UEFI (the FAT image).
xorriso -indev "$iso" -report_el_torito plain 2>/dev/null >"$TEST_DIR/eltorito"
grep -Eq '^El Torito boot img : +1 +BIOS' "$TEST_DIR/eltorito" || { cat "$TEST_DIR/eltorito"; fail "no BIOS El Torito entry"; }
grep -Eq '^El Torito boot img : +2 +UEFI' "$TEST_DIR/eltorito" || { cat "$TEST_DIR/eltorito"; fail "no UEFI El Torito entry"; }
grep -Eq '^El Torito img path : +1 +/isolinux/isolinux.bin$' "$TEST_DIR/eltorito" || fail "the BIOS entry is not isolinux"
# Hybrid: an MBR with the EFI partition (fdisk reads it) and a GPT beside it.
sfdisk -d "$iso" >"$TEST_DIR/mbr" || fail "sfdisk cannot read the MBR of $iso"
grep -Eq 'type=ef' "$TEST_DIR/mbr" || { cat "$TEST_DIR/mbr"; fail "no EFI partition in the MBR"; }
grep -q bootable "$TEST_DIR/mbr" || fail "no bootable MBR partition"
[ "$(dd if="$iso" bs=512 skip=1 count=1 status=none | head -c 8)" = "EFI PART" ] || fail "no GPT header in $iso"
xorriso -indev "$iso" -report_system_area plain 2>/dev/null >"$TEST_DIR/sysarea"
grep -q 'GPT partition path :   2  /boot/grub/efi.img' "$TEST_DIR/sysarea" || { cat "$TEST_DIR/sysarea"; fail "no GPT partition for the EFI image"; }
xorriso -indev "$iso" -pvd_info 2>/dev/null | grep -q "^Volume Id    : P2V_LIVE$" || fail "volume id is not P2V_LIVE"
pass "hybrid ISO: BIOS and UEFI El Torito, MBR and GPT"

# The files of the contract.
xorriso -osirrox on -indev "$iso" \
    -extract /live/initrd.img "$TEST_DIR/initrd.img" \
    -extract /boot/grub/efi.img "$TEST_DIR/efi.img" \
    -extract /isolinux/isolinux.cfg "$TEST_DIR/isolinux.cfg" \
    -extract /boot/grub/grub.cfg "$TEST_DIR/grub.cfg" \
    -extract /live/vmlinuz "$TEST_DIR/vmlinuz" 2>/dev/null || fail "cannot extract the boot files"
grep -q 'APPEND initrd=/live/initrd.img .*console=ttyS0,115200' "$TEST_DIR/isolinux.cfg" || fail "isolinux.cfg does not boot /live/initrd.img with a serial console"
grep -q 'initrd /live/initrd.img' "$TEST_DIR/grub.cfg" || fail "grub.cfg does not load /live/initrd.img"
mdir -i "$TEST_DIR/efi.img" -b ::/EFI/BOOT >"$TEST_DIR/efi.list" || fail "the EFI image is not FAT"
grep -qi 'BOOTX64.EFI' "$TEST_DIR/efi.list" && grep -qi 'grubx64.efi' "$TEST_DIR/efi.list" ||
    { cat "$TEST_DIR/efi.list"; fail "no shim or grub in the EFI image"; }

list_initrd() { # IMAGE LIST: the initramfs's file names
    zstd -dc "$1" | cpio -t --quiet >"$2" || fail "cannot list the initramfs $1 (zstd, cpio)"
}
list_initrd "$TEST_DIR/initrd.img" "$TEST_DIR/files"
for f in init usr/bin/p2v-live usr/bin/busybox usr/bin/sh usr/sbin/modprobe usr/bin/kmod \
         usr/share/p2v/kernel-catalog.json usr/share/misc/pci.ids dev/console \
         usr/lib64/ld-linux-x86-64.so.2; do
    grep -qx "$f" "$TEST_DIR/files" || fail "$f is not in the initramfs"
done
kver=$(sed -n 's,^usr/lib/modules/\([^/]*\)/modules.dep$,\1,p' "$TEST_DIR/files")
[ -n "$kver" ] || fail "no modules.dep in the initramfs"
for m in e1000 e1000e virtio_net virtio_scsi virtio_blk ahci hpsa megaraid_sas mpt3sas smartpqi \
         vmw_pvscsi vmxnet3 nvme sd_mod sr_mod usb-storage xhci-pci usbhid qemu_fw_cfg; do
    grep -Eq "^usr/lib/modules/$kver/kernel/.*/$m\.ko" "$TEST_DIR/files" || fail "module $m is not in the initramfs"
done
grep -q "^usr/lib/modules/$kver/modules.alias.bin$" "$TEST_DIR/files" || fail "no depmod indexes in the initramfs"
grep -q "^usr/lib/firmware/" "$TEST_DIR/files" || fail "no firmware in the initramfs"

# The catalog is the whole kernel package's (it names modules not in the image).
mkdir -p "$TEST_DIR/root"
(cd "$TEST_DIR/root" && zstd -dc "$TEST_DIR/initrd.img" |
    cpio -i -d --quiet usr/share/p2v/kernel-catalog.json "usr/lib/modules/*") ||
    fail "cannot extract from the initramfs"
catalog=$TEST_DIR/root/usr/share/p2v/kernel-catalog.json
[ "$(jq -r .kernel "$catalog")" = "$kver" ] || fail "the catalog is not for kernel $kver"
n_catalog=$(jq '.modules | length' "$catalog")
n_image=$(grep -c . "$TEST_DIR/root/usr/lib/modules/$kver/modules.dep")
[ "$n_catalog" -gt $((n_image * 2)) ] || fail "the catalog has $n_catalog modules, the image $n_image: not the full package"
jq -e '.modules[] | select(.name == "e1000")' "$catalog" >/dev/null || fail "e1000 is not in the catalog"
# kmod agrees: modprobe resolves e1000 from the image's own indexes.
modprobe -d "$TEST_DIR/root/usr" -S "$kver" --show-depends e1000 | grep -q '/e1000\.ko' ||
    fail "modprobe cannot resolve e1000 from the image's indexes"
pass "initramfs holds p2v-live, busybox, kmod, the catalog ($n_catalog modules), $n_image modules, e1000"

# Without e1000: gone from the image, still named by the catalog.
build "$TEST_DIR/no-e1000.iso" --without-module e1000
xorriso -osirrox on -indev "$TEST_DIR/no-e1000.iso" -extract /live/initrd.img "$TEST_DIR/no-e1000.img" 2>/dev/null ||
    fail "cannot extract the initramfs of no-e1000.iso"
list_initrd "$TEST_DIR/no-e1000.img" "$TEST_DIR/files-no-e1000"
if grep -Eq "/e1000\.ko" "$TEST_DIR/files-no-e1000"; then fail "--without-module e1000 left e1000 in"; fi
grep -Eq "/e1000e\.ko" "$TEST_DIR/files-no-e1000" || fail "--without-module e1000 also removed e1000e"
grep -qx usr/share/p2v/kernel-catalog.json "$TEST_DIR/files-no-e1000" || fail "no catalog in no-e1000.iso"
pass "--without-module e1000 leaves e1000 out"

expect_error '^build-iso: --without-module no_such_module: no such module in kernel ' \
    "$BUILD_ISO" --build-dir "$P2V_BUILD_DIR" --out "$TEST_DIR/bad.iso" --without-module no_such_module
[ ! -e "$TEST_DIR/bad.iso" ] || fail "a failed build left bad.iso"
expect_error '^build-iso: unknown option --bogus \(see --help\)$' "$BUILD_ISO" --bogus
pass "bad options fail with one line"
