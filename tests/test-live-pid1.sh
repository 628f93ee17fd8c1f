#!/usr/bin/env bash
# p2v-live as PID 1, in a new PID namespace (unshare), as in the image:
# messages reach every active console (two fake ones here), dump_settings
# powers off, and a serve job powers off once the converter opened
# p2v:done.  reboot(2) in a PID namespace other than the first only ends
# that namespace's init: the host is never touched.
source "$(dirname "$0")/functions.sh"
requires unshare nbdcopy nbdinfo
[ "$(id -u)" = 0 ] || skip "unshare --pid needs root"
unshare --pid --fork --mount true 2>/dev/null || skip "unshare --pid --mount does not work here"

LIVE=$P2V_BUILD_DIR/p2v-live/p2v-live
sys=$TEST_DIR/sys
mkdir -p "$sys/class/tty/console" "$TEST_DIR/dev"
echo "ttyA ttyB" >"$sys/class/tty/console/active"
: >"$TEST_DIR/dev/ttyA"
: >"$TEST_DIR/dev/ttyB"
UNSHARE_NET=
roots=(--sysfs "$sys" --dev "$TEST_DIR/dev" --catalog "$TEST_DIR/none.json")
# As PID 1 it keeps the survey in /run/p2v: a private /run, then exec, so
# that p2v-live is PID 1 of the new namespace.
as_pid1() {     # SECONDS COMMAND...
    local limit=$1; shift
    timeout "$limit" unshare --pid --fork --mount $UNSHARE_NET sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' sh "$@"
}

# dump_settings, then power off: the namespace's init ends.
status=0
as_pid1 30 "$LIVE" "${roots[@]}" \
    --settings "p2v.mode=dial p2v.server=10.0.2.2 p2v.dump_settings" </dev/null || status=$?
[ "$status" != 124 ] || fail "p2v-live as PID 1 did not power off"
for tty in ttyA ttyB; do
    grep -qx "p2v.server=10.0.2.2" "$TEST_DIR/dev/$tty" || { cat "$TEST_DIR/dev/$tty"; fail "no settings on $tty"; }
    grep -qx "p2v-live: powering off" "$TEST_DIR/dev/$tty" || fail "no power off message on $tty"
done
pass "as PID 1, dump_settings reaches every console and powers off"

# A serve job as PID 1: the job runs in a child; p2v:done ends it and the
# machine (here: the namespace) powers off.
: >"$TEST_DIR/dev/ttyA"
: >"$TEST_DIR/dev/ttyB"
head -c 2M /dev/urandom >"$TEST_DIR/disk.img"
port=$(free_port)
as_pid1 60 "$LIVE" "${roots[@]}" --no-network --listen "127.0.0.1:$port" \
    --disk "$TEST_DIR/disk.img" --settings "p2v.mode=serve p2v.auto=1" </dev/null \
    >"$TEST_DIR/ns.out" 2>&1 &
ns=$!
wait_for_port "$port" 30 || { cat "$TEST_DIR/dev/ttyA"; exit 1; }
nbdcopy "nbd://127.0.0.1:$port/disk.img" "$TEST_DIR/copy.img" || fail "nbdcopy failed"
cmp "$TEST_DIR/disk.img" "$TEST_DIR/copy.img" || fail "the copy differs"
nbdinfo "nbd://127.0.0.1:$port/p2v:done" >/dev/null 2>&1 || true
status=0
wait "$ns" || status=$?
[ "$status" != 124 ] || { cat "$TEST_DIR/dev/ttyA"; fail "the PID 1 job did not power off after p2v:done"; }
for tty in ttyA ttyB; do
    grep -q '^##  ALL DISKS COPIED' "$TEST_DIR/dev/$tty" || { cat "$TEST_DIR/dev/$tty"; fail "no ALL DISKS COPIED on $tty"; }
    grep -qx "p2v-live: powering off" "$TEST_DIR/dev/$tty" || fail "no power off on $tty"
done
grep -q "network: left as it is (--no-network)" "$TEST_DIR/dev/ttyA" || fail "the network was not left alone"
pass "as PID 1, a serve job powers off after p2v:done"

# No network card at all (its driver is missing), p2v.auto=1, in a network
# namespace of its own: the large NO NETWORK LINK message names the NIC and
# its module on every console, then the machine powers off by itself.
pci=$sys/bus/pci/devices/0000:00:03.0
mkdir -p "$pci"
echo 0x020000 >"$pci/class"; echo 0x8086 >"$pci/vendor"; echo 0x100e >"$pci/device"
echo '{ "kernel": "6.1.0-test", "modules": [ { "name": "e1000",
  "path": "kernel/drivers/net/ethernet/intel/e1000/e1000.ko", "present": true,
  "depends": [], "firmware": [], "aliases": [ "pci:v00008086d0000100Esv*sd*bc*sc*i*" ] } ] }' \
    >"$TEST_DIR/catalog.json"
: >"$TEST_DIR/dev/ttyA"
: >"$TEST_DIR/dev/ttyB"
UNSHARE_NET=--net
status=0
as_pid1 60 "$LIVE" --sysfs "$sys" --dev "$TEST_DIR/dev" --catalog "$TEST_DIR/catalog.json" \
    --modules "$TEST_DIR/modules" --disk "$TEST_DIR/disk.img" \
    --settings "p2v.mode=serve p2v.auto=1" </dev/null >"$TEST_DIR/nolink.out" 2>&1 || status=$?
[ "$status" != 124 ] || { cat "$TEST_DIR/dev/ttyA"; fail "no power off after the missing NIC"; }
for tty in ttyA ttyB; do
    grep -q "0000:00:03.0 network controller 8086:100e has no driver: needs module e1000 (not in this image" \
        "$TEST_DIR/dev/$tty" || { cat "$TEST_DIR/dev/$tty"; fail "the hardware check does not name e1000 on $tty"; }
    grep -q '^##  NO NETWORK LINK' "$TEST_DIR/dev/$tty" || fail "no NO NETWORK LINK banner on $tty"
    grep -q '^##  0000:00:03.0 8086:100e needs module e1000 (not in this image)' "$TEST_DIR/dev/$tty" ||
        fail "the banner does not name e1000 on $tty"
    grep -qx "p2v-live: powering off" "$TEST_DIR/dev/$tty" || fail "no power off on $tty"
done
pass "as PID 1, a missing NIC driver: named, a large message, power off"
