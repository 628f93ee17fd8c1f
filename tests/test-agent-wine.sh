#!/bin/bash
# p2v-agent.exe, the Windows agent, under wine: it serves an image (data,
# holes, a pattern) read-only over NBD, by a Z: path and through a drive
# letter of the prefix (dosdevices), to Linux peers.  nbdinfo sees the
# size and export names; nbdcopy, qemu-img convert and p2v-convert copy
# give identical images; a write the client does not check itself is
# refused by the server (EPERM); the hostile client does not crash it; a
# port in use is said in words (Winsock's error through errno); Ctrl-C
# stops it with a client idle; a non-loopback listen address without
# --insecure is refused in one line; dialling a listening p2v-convert copy
# (dial-in) gives an identical image too; and the image is unchanged.
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
requires nbdinfo nbdcopy qemu-img jq ss
AGENT_EXE=$P2V_BUILD_DIR/share/p2v/p2v-agent.exe
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -f "$AGENT_EXE" ] || skip "no $AGENT_EXE (mingw-w64 missing at build time?)"
wine_setup

# 64 MiB: random data, a hole, a repeating pattern, a hole, a tail.
mkdir "$TEST_DIR/images"
disk=$TEST_DIR/images/disk.img
truncate -s 64M "$disk"
head -c 3M /dev/urandom | dd of="$disk" conv=notrunc status=none
{ yes 'p2v-agent.exe pattern 0123456789' || true; } | head -c 5M |
    dd of="$disk" bs=1M seek=10 conv=notrunc status=none
printf 'tail' | dd of="$disk" bs=1 seek=$((64 * 1024 * 1024 - 4)) conv=notrunc status=none
size=$(stat -c %s "$disk")
sum_before=$(sha256sum <"$disk")
# The same bytes by a drive letter: P: is $TEST_DIR/images in the prefix.
ln "$disk" "$TEST_DIR/images/disk-p.img"
ln -s "$TEST_DIR/images" "$WINEPREFIX/dosdevices/p:"
zpath=$(wine_run winepath -w "$disk" 2>/dev/null)
[[ $zpath == [A-Z]:\\* ]] || fail "winepath gave '$zpath' for $disk"

port=$(free_port)
# The loader itself in the background (not a subshell), so signals reach it.
"$WINELOADER" "$AGENT_EXE" serve --listen "127.0.0.1:$port" --handshake-timeout 4 \
    "$zpath" 'P:\disk-p.img' >"$TEST_DIR/agent.log" 2>&1 &
AGENT_PID=$!
stop_wine_agent() { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; return 0; }
cleanup stop_wine_agent
wait_for_port "$port" 30 || { cat "$TEST_DIR/agent.log" >&2; exit 1; }
grep -q "serving 2 disk(s) on 127.0.0.1:$port" "$TEST_DIR/agent.log" ||
    { cat "$TEST_DIR/agent.log" >&2; fail "no 'serving' line"; }
uri="nbd://127.0.0.1:$port/disk.img"
uri_p="nbd://127.0.0.1:$port/disk-p.img"

# nbdinfo: both exports by name, the size, read-only, no survey export yet.
nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json"
[ "$(jq -r '[.exports[]["export-name"]] | join(",")' "$TEST_DIR/list.json")" = \
  "disk.img,disk-p.img,p2v:done" ] || { cat "$TEST_DIR/list.json" >&2; fail "export names"; }
nbdinfo --json "$uri_p" >"$TEST_DIR/info.json"
jq -e ".exports[0][\"export-size\"] == $size and .exports[0].is_read_only == true" \
    "$TEST_DIR/info.json" >/dev/null || { cat "$TEST_DIR/info.json" >&2; fail "size or read-only flag"; }

# Every byte, through each peer.
nbdcopy --connections=4 "$uri" "$TEST_DIR/nbdcopy.raw"
cmp "$disk" "$TEST_DIR/nbdcopy.raw" || fail "nbdcopy copy differs"
qemu-img convert -f raw -O qcow2 "$uri_p" "$TEST_DIR/copy.qcow2"
qemu-img compare -f qcow2 -F raw "$TEST_DIR/copy.qcow2" "$disk" >/dev/null ||
    fail "qemu-img convert of the drive-letter export differs"
if [ -x "$P2V_CONVERT" ]; then
    "$P2V_CONVERT" copy "$uri" -o "$TEST_DIR/convert.raw" -O raw >"$TEST_DIR/convert.log" 2>&1 ||
        { cat "$TEST_DIR/convert.log" >&2; fail "p2v-convert copy failed"; }
    cmp "$disk" "$TEST_DIR/convert.raw" || fail "p2v-convert copy differs"
fi

# A write that libnbd does not stop itself (strict mode off) reaches the
# server, which must refuse it: EPERM, and the export stays as it was.
"$PYTHON" - "$uri" <<'PY' || fail "the write was not refused with EPERM"
import errno, sys, nbd
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"x" * 512, 0)
except nbd.Error as e:
    sys.exit(0 if e.errno in (errno.EPERM, "EPERM") else 1)   # a name in libnbd 1.14
sys.exit(1)
PY

# The hostile client's cases; the server must live on and serve right.
"$PYTHON" "$P2V_SOURCE_DIR/tests/nbd-hostile-client.py" "$port" disk.img "$size" \
    >"$TEST_DIR/hostile.log" 2>&1 ||
    { cat "$TEST_DIR/hostile.log" "$TEST_DIR/agent.log" >&2; fail "hostile client cases"; }
kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent died under the hostile client"
qemu-img compare -f raw -F raw "$uri" "$disk" >/dev/null || fail "qemu-img compare after the hostile client"

# Winsock's errors reach the one error line as words, not "Unknown error".
expect_error "^p2v-agent: cannot listen on 127\.0\.0\.1:$port: address already in use[[:space:]]*$" \
    wine_run "$AGENT_EXE" serve --listen "127.0.0.1:$port" 'P:\disk-p.img'
# Ctrl-C (wine turns SIGINT into the console event) stops it at once, even
# with a client idle in transmission: its blocked recv must be woken.
"$PYTHON" -c 'import nbd, sys, time
h = nbd.NBD(); h.connect_uri(sys.argv[1]); time.sleep(20)' "$uri" &
idle_pid=$!
stop_idle() { kill "$idle_pid" 2>/dev/null; wait "$idle_pid" 2>/dev/null; return 0; }
cleanup stop_idle
for ((i = 0; i < 50; i++)); do
    [ "$(ss -tn state established "( sport = :$port )" | wc -l)" -ge 2 ] && break
    sleep 0.1
done
kill -INT "$AGENT_PID"
for ((i = 0; i < 50; i++)); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent did not stop within 5 s of Ctrl-C with an idle client"
status=0
wait "$AGENT_PID" || status=$?
[ "$status" -eq 0 ] || { cat "$TEST_DIR/agent.log" >&2; fail "the agent exited $status after Ctrl-C"; }

# No clear text across a network without --insecure: one line, exit 2.
expect_error "^p2v-agent: refusing to serve disks on 0\.0\.0\.0:$port in clear text" \
    wine_run "$AGENT_EXE" serve --listen "0.0.0.0:$port" 'P:\disk-p.img'

# Dial-in: the agent dials a listening p2v-convert copy, which takes the
# disk and tells it it is done (docs/dial-in.md); no survey export needed.
if [ -x "$P2V_CONVERT" ]; then
    ( rc=0; "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o "$TEST_DIR/dialin" --wait 30 \
          >"$TEST_DIR/conv.out" 2>"$TEST_DIR/conv.err" || rc=$?; echo $rc >"$TEST_DIR/conv.status" ) &
    conv_pid=$!
    stop_conv() { kill "$conv_pid" 2>/dev/null; wait "$conv_pid" 2>/dev/null; return 0; }
    cleanup stop_conv
    for ((i = 0; i < 100; i++)); do grep -q "listening on" "$TEST_DIR/conv.err" && break; sleep 0.1; done
    conv_port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$TEST_DIR/conv.err")
    [ -n "$conv_port" ] || { cat "$TEST_DIR/conv.err" >&2; fail "the converter does not listen"; }
    timeout 60 "$WINELOADER" "$AGENT_EXE" serve --connect "127.0.0.1:$conv_port" "$zpath" \
        2>"$TEST_DIR/dial.err" || { cat "$TEST_DIR/dial.err" >&2; fail "the dialling agent failed"; }
    grep -q "the converter has everything; done" "$TEST_DIR/dial.err" || fail "no 'done' line"
    wait "$conv_pid" || true
    [ "$(cat "$TEST_DIR/conv.status")" = 0 ] || { cat "$TEST_DIR/conv.err" >&2; fail "the converter failed"; }
    cmp "$disk" "$TEST_DIR/dialin/disk.img.raw" || fail "the dial-in copy differs"
fi
[ "$(sha256sum <"$disk")" = "$sum_before" ] || fail "the image changed"
pass "p2v-agent.exe under wine: nbdinfo, nbdcopy, qemu-img, p2v-convert, EPERM, hostile client, clear-text rule"
