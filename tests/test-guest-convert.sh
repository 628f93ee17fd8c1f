#!/bin/bash
# labels: slow
# Guest inspection and Linux conversion (converter/guest.h) on overlays
# backed by a read-only NBD source, through tests/tools/guest-convert:
# a real Debian 12 installed with /dev/sda names and a SATA-only
# initramfs is converted for KVM, and the overlay is checked with
# guestfish (fstab by UUID, grub.cfg root=UUID and console=ttyS0, virtio
# drivers in the initramfs, vendor agent disabled, NIC name pinned); the
# source's bytes do not change.  A disk with no OS, a Linux for aarch64
# and a Debian whose kernel lacks virtio_blk fail in open() or in the
# preflight with one line and their own exit status, writing nothing.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/guest-helpers.sh"
requires debootstrap guestfish nbdkit qemu-img qemu-nbd sha256sum flock jq
TOOL=$P2V_BUILD_DIR/tests/guest-convert
[ -x "$TOOL" ] || fail "$TOOL is not built"
getent hosts deb.debian.org >/dev/null || skip "deb.debian.org does not resolve: cannot build the Debian guest"

IMG=$(guest_debian12) || fail "cannot build the Debian test guest"
NOOS=$(guest_no_os) || fail "cannot build the no-OS disk"
ARM=$(guest_arm64) || fail "cannot build the aarch64 disk"
before=$(sha256sum <"$IMG")

# Checks on an overlay run with TCG straight away; the conversion itself
# runs as the product does (KVM first unless the caller forces TCG).
gf() { LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish "$@"; }

# -- fail early: no OS, wrong architecture --------------------------------
port=$(free_port)
guest_serve "$port" "$NOOS"
status=0
LIBGUESTFS_BACKEND_SETTINGS=force_tcg "$TOOL" "nbd://127.0.0.1:$port:$TEST_DIR/noos.qcow2" \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
[ "$status" -eq 2 ] || { cat "$TEST_DIR/err"; fail "no-OS disk: exit $status, expected 2"; }
[ "$(wc -l <"$TEST_DIR/err")" -eq 1 ] || { cat "$TEST_DIR/err"; fail "no-OS disk: not one line"; }
grep -q "no operating system found on the source disks: check" "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err"; fail "no-OS disk: unexpected message"; }
pass "a disk with no OS fails in open: $(cat "$TEST_DIR/err")"

port=$(free_port)
guest_serve "$port" "$ARM"
status=0
LIBGUESTFS_BACKEND_SETTINGS=force_tcg "$TOOL" "nbd://127.0.0.1:$port:$TEST_DIR/arm.qcow2" \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
[ "$status" -eq 3 ] || { cat "$TEST_DIR/err"; fail "aarch64 disk: exit $status, expected 3"; }
[ "$(wc -l <"$TEST_DIR/err")" -eq 1 ] || { cat "$TEST_DIR/err"; fail "aarch64 disk: not one line"; }
grep -q "the source runs debian 12.5 for aarch64: only x86_64 guests can be converted" "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err"; fail "aarch64 disk: unexpected message"; }
pass "an aarch64 Linux fails in open: $(cat "$TEST_DIR/err")"

# -- the Debian guest, converted for KVM -----------------------------------
port=$(free_port)
guest_serve "$port" "$IMG"
SRC=nbd://127.0.0.1:$port
OV=$TEST_DIR/sda.qcow2
t0=$SECONDS
"$TOOL" -v "$SRC:$OV" >"$TEST_DIR/convert.out" 2>"$TEST_DIR/convert.err" ||
    { cat "$TEST_DIR/convert.err"; fail "conversion failed"; }
echo "conversion took $((SECONDS - t0)) s"
cat "$TEST_DIR/convert.err"
grep -q '^osinfo: debian12$' "$TEST_DIR/convert.out" || fail "inspection did not say debian12"
grep -q '^hardware: virtio-blk virtio$' "$TEST_DIR/convert.out" || fail "the conversion did not prepare virtio-blk and virtio"
grep -q '^uefi: no$' "$TEST_DIR/convert.out" || fail "inspection did not say BIOS"
[ "$(grep -c 'using TCG' "$TEST_DIR/convert.err")" -le 1 ] || fail "the TCG fallback was announced more than once"
grep -q '^change: services: .*hp-health.service.*HPE' "$TEST_DIR/convert.out" ||
    fail "the vendor agent is not in the changes"
[ "$(qemu-img info --output=json "$OV" | jq -r '."backing-filename"')" = "$SRC" ] ||
    fail "the overlay is not backed by the source"

gf --ro -a "$OV" -i <<'EOF' >"$TEST_DIR/guest.txt" 2>&1 || { cat "$TEST_DIR/guest.txt"; fail "guestfish on the overlay failed"; }
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
section link | grep -q '^Name=enp2s0$' || { section link; fail "no .link file pins enp2s0"; }
[ "$(section devicemap)" = false ] || fail "grub's device.map is still there"
pass "the overlay holds the converted guest"

[ "$(sha256sum <"$IMG")" = "$before" ] || fail "the source image changed"
pass "the source image is unchanged"

# -- preflight: a kernel without virtio_blk fails before anything is written
BROKEN=$TEST_DIR/novirtio.qcow2
qemu-img create -q -f qcow2 -F raw -b "$IMG" "$BROKEN"
gf -a "$BROKEN" -i sh "sed -i '/virtio_blk/d' /lib/modules/*/modules.dep" >/dev/null
port=$(free_port)
qemu-nbd -r -t -e 4 -f qcow2 -b 127.0.0.1 -p "$port" "$BROKEN" >"$TEST_DIR/qemu-nbd.log" 2>&1 &
QNBD=$!
stop_qnbd() { kill $QNBD 2>/dev/null; wait $QNBD 2>/dev/null; }
cleanup stop_qnbd
wait_for_port "$port"
OV2=$TEST_DIR/novirtio-ov.qcow2
status=0
LIBGUESTFS_BACKEND_SETTINGS=force_tcg "$TOOL" "nbd://127.0.0.1:$port:$OV2" \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
[ "$status" -eq 4 ] || { cat "$TEST_DIR/err"; fail "kernel without virtio_blk: exit $status, expected 4"; }
[ "$(wc -l <"$TEST_DIR/err")" -eq 1 ] || { cat "$TEST_DIR/err"; fail "kernel without virtio_blk: not one line"; }
grep -q "default kernel .* has no virtio_blk driver for KVM disks: install" "$TEST_DIR/err" ||
    { cat "$TEST_DIR/err"; fail "kernel without virtio_blk: unexpected message"; }
! grep -q '^change:' "$TEST_DIR/out" || fail "the preflight failure still changed the guest"
pass "a kernel without virtio_blk fails in the preflight: $(cat "$TEST_DIR/err")"
