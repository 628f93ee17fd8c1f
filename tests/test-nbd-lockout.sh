#!/bin/bash
# Clients cannot lock the converter out of p2v-agent serve: 16 clients
# trickling a handshake (reconnecting when dropped) and 16 idle after
# NBD_OPT_GO, then nbdinfo and p2v-convert copy still get in at once.  A
# trickling client is dropped at the handshake deadline, an idle session
# when its slot is needed, a refused client is told why (and the log says
# so once, not 50 times).
# labels: nbd
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires nbdinfo timeout
[ -x "$P2V_AGENT" ] || skip "p2v-agent is not built"
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -x "$P2V_CONVERT" ] || skip "p2v-convert is not built"
client=$P2V_SOURCE_DIR/tests/nbd-lockout-client.py

disk=$TEST_DIR/disk.img
truncate -s 16M "$disk"
head -c 3M /dev/urandom | dd of="$disk" conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$disk" bs=1M seek=12 conv=notrunc status=none

# Background helpers are stopped at exit.
pids=()
stop_helpers() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; }
cleanup stop_helpers
wait_status() {    # wait_status FILE WORD: until WORD is in FILE (10 s)
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qx "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no '$2' in $1"
}

# ---- 1. Trickling and idle clients (16 session slots, the default) ----
port=$(free_port)
start_agent "$port" --all-blocks --handshake-timeout 3 --idle-timeout 4 "$disk"
log=$TEST_DIR/agent-$port.log
uri="nbd://127.0.0.1:$port/disk.img"

# A client sending a byte every 0.5 s is dropped at the deadline (3 s),
# however steadily it trickles.
"$PYTHON" "$client" trickle-once "$port" 5 ||
    { cat "$log" >&2; fail "a trickling client was not dropped at the handshake deadline"; }

status=$TEST_DIR/attack.status
"$PYTHON" "$client" attack "$port" disk.img 16 "$status" &
pids+=($!)
wait_status "$status" ready
sleep 5                                  # the idle ones pass the idle timeout (4 s)

start=$(date +%s%N)
timeout 30 nbdinfo "$uri" >"$TEST_DIR/info" 2>"$TEST_DIR/info.err" ||
    { cat "$TEST_DIR/info.err" "$log" >&2; fail "nbdinfo locked out by 16 trickling and 16 idle clients"; }
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "export-size: $((16 * 1024 * 1024))" "$TEST_DIR/info" || fail "nbdinfo shows the wrong size"
echo "nbdinfo got in after $took_ms ms"
# It waited at most for one round of tricklers to reach their deadline (3 s).
[ "$took_ms" -lt 6000 ] || fail "nbdinfo took $took_ms ms, more than the handshake deadline"

timeout 60 "$P2V_CONVERT" copy --progress=none "$uri" -o "$TEST_DIR/copy.raw" ||
    { cat "$log" >&2; fail "p2v-convert copy locked out"; }
cmp "$disk" "$TEST_DIR/copy.raw" || fail "the copy differs from the disk"

# nbdinfo took one idle session's slot and the copy more (4 connections):
# idle sessions were dropped to make room, and the log said why.
closed=$(grep -o 'idle_closed=[0-9]*' "$status" | tail -1 | cut -d= -f2)
[ "${closed:-0}" -ge 2 ] || fail "idle sessions dropped: ${closed:-0}, want at least 2"
grep -Eq "dropped \(idle for [0-9]+ s\) to make room" "$log" || { cat "$log" >&2; fail "no 'dropped (idle' line"; }
kill -0 "$AGENT_PID" || fail "the server died"
stop_helpers; pids=()

# ---- 2. A full server says why, and logs it once ----
port2=$(free_port)
start_agent "$port2" --all-blocks --max-clients 1 --idle-timeout 60 "$disk"
log2=$TEST_DIR/agent-$port2.log
uri2="nbd://127.0.0.1:$port2/disk.img"
hold=$TEST_DIR/hold.status
"$PYTHON" "$client" hold "$port2" disk.img "$hold" &
pids+=($!)
wait_status "$hold" ready

# What libnbd makes of NBD_REP_ERR_SHUTDOWN: nbdinfo (opt mode) names the
# error; the server's message is in libnbd's debug output.
if timeout 30 env LIBNBD_DEBUG=1 nbdinfo "$uri2" >/dev/null 2>"$TEST_DIR/full.err"; then
    fail "nbdinfo got into a full server"
fi
grep -q "server replied with error to opt_go request" "$TEST_DIR/full.err" ||
    { cat "$TEST_DIR/full.err" >&2; fail "nbdinfo: no error reply to NBD_OPT_GO"; }
msg="p2v-agent: too many clients (1 in use); try again later"
grep -qF "server error message: $msg" "$TEST_DIR/full.err" ||
    { grep -i error "$TEST_DIR/full.err" >&2; fail "nbdinfo did not get the server's message"; }

"$PYTHON" "$client" refused "$port2" disk.img 50 "$msg" || fail "refused clients not told why"
refused=$(grep -c "too many clients (1 in use); refused" "$log2" || true)
[ "$refused" -ge 1 ] && [ "$refused" -le 2 ] ||
    { cat "$log2" >&2; fail "$refused log lines for 51 refused clients, want 1 or 2"; }
# The session younger than its idle timeout was not dropped for them.
grep -qx closed "$hold" && fail "the held session was dropped"
kill -0 "$AGENT_PID" || fail "the server died"
grep -Ei "sanitizer|runtime error" "$log" "$log2" && fail "sanitizer report"
pass "no lock-out: trickling and idle clients, full server"
