#!/bin/bash
# labels: slow
# Guest inspection and Linux conversion (converter/guest.h) failing early
# on overlays backed by a read-only NBD source, through
# tests/tools/guest-convert: a disk with no OS, a Linux for aarch64 and a
# Debian whose kernel lacks virtio_blk fail in open() or in the preflight
# with one line and their own exit status, writing nothing.  (The full
# conversion of the Debian guest, and the checks of what it changed, are
# in test-run-debian.sh: one conversion of that guest for both.)
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/guest-helpers.sh"
requires debootstrap guestfish nbdkit qemu-img qemu-nbd sha256sum flock jq
TOOL=$P2V_BUILD_DIR/tests/guest-convert
[ -x "$TOOL" ] || fail "$TOOL is not built"
getent hosts deb.debian.org >/dev/null || skip "deb.debian.org does not resolve: cannot build the Debian guest"

NOOS=$(guest_no_os) || fail "cannot build the no-OS disk"
ARM=$(guest_arm64) || fail "cannot build the aarch64 disk"
BROKEN=$(guest_debian12_novirtio) || fail "cannot build the Debian guest without virtio_blk"

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

# -- preflight: a kernel without virtio_blk fails before anything is written
# (the cached guest_debian12_novirtio, served read-only)
before=$(sha256sum <"$BROKEN")
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
[ "$(sha256sum <"$BROKEN")" = "$before" ] || fail "the cached source image changed"
