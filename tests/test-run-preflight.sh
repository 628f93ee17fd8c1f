#!/bin/bash
# p2v-convert run: what preflight stops, before anything is written but
# the report: an unreachable source, too little space in --out (a real
# 24 MiB tmpfs), a disk too big for VMDK, bad command lines (--block-driver
# for VMware, a missing --drivers source among them); output disk
# names (the export's image extension dropped unless two would clash).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires nbdkit jq
[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"

# Nothing listens: exit 3, one line, the report says preflight failed.
port=$(free_port)
expect_run_exit 3 "cannot reach source nbd://127.0.0.1:$port" \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$TEST_DIR/unreach" --target kvm
no_disk_outputs "$TEST_DIR/unreach"
[ "$(report_phase "$TEST_DIR/unreach" preflight)" = failed ] || fail "report: preflight not failed"
[ "$(report_phase "$TEST_DIR/unreach" inspect)" = absent ] || fail "report: inspect ran"
jq -e '.result.ok == false' "$TEST_DIR/unreach/report.json" >/dev/null || fail "report: result not failed"
pass "unreachable source"

# Too little space: 40 MiB of data, a 24 MiB filesystem.
make_source "$TEST_DIR/src.img" >/dev/null
port=$(free_port)
start_nbdkit "$port" file "$TEST_DIR/src.img"
mkdir "$TEST_DIR/small"
mount -t tmpfs -o size=24m p2v-test "$TEST_DIR/small" || skip "cannot mount a tmpfs"
unmount_small() { umount "$TEST_DIR/small"; }
cleanup unmount_small
status=0
"$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$TEST_DIR/small" --target kvm \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
[ "$status" -eq 10 ] || { cat "$TEST_DIR/err" >&2; fail "expected exit 10, got $status"; }
[ "$(run_errors "$TEST_DIR/err" | wc -l)" -eq 1 ] || { cat "$TEST_DIR/err" >&2; fail "expected one error line"; }
run_errors "$TEST_DIR/err" |
    grep -Eq "not enough space in $TEST_DIR/small: need [0-9.]+ MiB \(.* of used data in 1 disk, .* for overlays and margin\), [0-9.]+ MiB free" ||
    { cat "$TEST_DIR/err" >&2; fail "no clear line about space"; }
no_disk_outputs "$TEST_DIR/small"
[ "$(report_phase "$TEST_DIR/small" preflight)" = failed ] || fail "report: preflight not failed"
pass "not enough space"

# An output that exists is refused before inspection (no --force).
mkdir "$TEST_DIR/exists"
echo keep >"$TEST_DIR/exists/web01-disk.qcow2"
expect_run_exit 6 "output $TEST_DIR/exists/web01-disk.qcow2 exists; use --force" \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$TEST_DIR/exists" --target kvm \
    --name web01
[ "$(cat "$TEST_DIR/exists/web01-disk.qcow2")" = keep ] || fail "the existing output was touched"
[ "$(report_phase "$TEST_DIR/exists" inspect)" = absent ] || fail "inspection ran"
[ ! -e "$TEST_DIR/exists/.p2v-work" ] || fail "a work directory was left"
pass "existing output refused before inspection"

# Output names drop the export's image extension (disk.raw -> NAME-disk.qcow2),
# unless two exports would then share a name (disk.raw and disk.img keep
# theirs); seen through the refusal of an existing output.
mkdir "$TEST_DIR/exports" "$TEST_DIR/names"
truncate -s 1M "$TEST_DIR/exports/disk.raw"
port=$(free_port)
start_nbdkit "$port" file dir="$TEST_DIR/exports"
echo keep >"$TEST_DIR/names/web01-disk.qcow2"
expect_run_exit 6 "output $TEST_DIR/names/web01-disk.qcow2 exists" \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port/disk.raw" --out "$TEST_DIR/names" \
    --target kvm --name web01
truncate -s 1M "$TEST_DIR/exports/disk.img"
echo keep >"$TEST_DIR/names/web01-disk.img.qcow2"
expect_run_exit 6 "output $TEST_DIR/names/web01-disk.img.qcow2 exists" \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$TEST_DIR/names" \
    --target kvm --name web01
pass "disk names: the export's extension dropped, kept where two would clash"

# A 3 TiB disk cannot be a VMDK (2 TiB at most): caught before inspection.
port=$(free_port)
start_nbdkit "$port" null size=3T
expect_run_exit 10 "a VMDK holds at most 2 TiB" \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port" --out "$TEST_DIR/big" --target vmware
no_disk_outputs "$TEST_DIR/big"
pass "VMDK size limit"

# Command lines.
expect_exit 2 "give either --source" "$P2V_CONVERT" run --out "$TEST_DIR/x" --target kvm
expect_exit 2 "--target takes kvm or vmware" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target xen
expect_exit 2 "--target vmware writes VMDK" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target vmware -O qcow2
expect_exit 2 "--memory takes a size" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target kvm --memory 12
expect_exit 2 "--keep-disks applies to an OVA" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target kvm --keep-disks
expect_exit 2 "^p2v-convert: --block-driver is for --target kvm: a VMware VM's disks are on LSI Logic SAS, pvscsi or SATA, chosen by the conversion$" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target vmware --block-driver virtio-scsi
expect_exit 2 "--block-driver takes virtio-blk or virtio-scsi, not 'ide'" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target kvm --block-driver ide
expect_exit 2 "^p2v-convert: --drivers $TEST_DIR/no-virtio-win.iso: No such file or directory: give a virtio-win folder, ISO or zip$" \
    "$P2V_CONVERT" run --source nbd://127.0.0.1:1 --out "$TEST_DIR/x" --target kvm --drivers "$TEST_DIR/no-virtio-win.iso"
[ ! -e "$TEST_DIR/x" ] || fail "a usage error created the output directory"
pass "usage errors"
