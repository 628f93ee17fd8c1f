#!/bin/bash
# The NBD server against a hostile client (garbage, truncated and
# oversized handshakes, bad requests, writes, a silent client, a flood of
# connections); afterwards real clients must still get correct data.
# labels: nbd slow
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires python3 nbdinfo nbdcopy qemu-img
[ -x "$P2V_AGENT" ] || skip "p2v-agent is not built"

# 64 MiB: data, a hole, more data, a hole to the end.
disk=$TEST_DIR/disk.img
truncate -s 64M "$disk"
head -c 3M /dev/urandom | dd of="$disk" conv=notrunc status=none
head -c 5M /dev/urandom | dd of="$disk" bs=1M seek=10 conv=notrunc status=none
size=$(stat -c %s "$disk")

port=$(free_port)
start_agent "$port" --all-blocks "$disk"
uri="nbd://127.0.0.1:$port/disk.img"

python3 "$P2V_SOURCE_DIR/tests/nbd-hostile-client.py" "$port" disk.img "$size" ||
    { cat "$TEST_DIR/agent-$port.log" >&2; fail "hostile client cases"; }

kill -0 "$AGENT_PID" 2>/dev/null || fail "the server died"
nbdinfo "$uri" >"$TEST_DIR/info" || fail "nbdinfo after the hostile client"
grep -q "export-size: $size" "$TEST_DIR/info" || fail "nbdinfo shows the wrong size"
nbdinfo --map "$uri" | awk '{print $1, $2, $3}' >"$TEST_DIR/map"
printf '%s\n' "0 3145728 0" "3145728 7340032 3" "10485760 5242880 0" "15728640 51380224 3" |
    cmp - "$TEST_DIR/map" || { cat "$TEST_DIR/map" >&2; fail "nbdinfo --map: wrong extents"; }
qemu-img compare -f raw -F raw "$disk" "$uri" || fail "qemu-img compare differs"
nbdcopy --connections=4 "$uri" "$TEST_DIR/copy.img"
cmp "$disk" "$TEST_DIR/copy.img" || fail "nbdcopy copy differs"
# Nothing the clients did may have crashed or wedged the server.
grep -Ei "sanitizer|runtime error" "$TEST_DIR/agent-$port.log" && fail "sanitizer report"
pass "hostile NBD clients"
