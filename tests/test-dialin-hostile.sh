#!/usr/bin/env bash
# Dial-in against a hostile or odd source (tests/nbd-hostile-dialler.py):
# an export named "../evil" or with a control character, a survey too big
# or not valid: one clear error line, a non-zero exit, nothing written
# outside DIR and nothing presented as complete.  Connections closed while
# they waited in the accept queue are skipped, and a plain NBD server
# without structured replies or base:allocation is copied whole.  A
# dialler without a p2v session is refused; an impostor dialling next to
# the real source (same export name and size) is never read from.
source "$(dirname "$0")/functions.sh"
requires qemu-img
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -x "$P2V_CONVERT" ] && [ -x "$P2V_AGENT" ] || skip "p2v-convert or p2v-agent is not built"
DIALLER=$P2V_SOURCE_DIR/tests/nbd-hostile-dialler.py

cd "$TEST_DIR"
mkdir work
cd work

# run_case MODE: converter in the background, the dialler in the
# foreground; leaves MODE.err, MODE.status, MODE.dialler.
run_case() {
    local mode=$1 port i
    ( rc=0; timeout 90 "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o "out-$mode" --wait 30 \
          >"$mode.out" 2>"$mode.err" || rc=$?; echo $rc >"$mode.status" ) &
    local pid=$!
    for ((i = 0; i < 200; i++)); do grep -q "listening on" "$mode.err" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$mode.err")
    [ -n "$port" ] || { cat "$mode.err" >&2; fail "$mode: the converter does not listen"; }
    timeout 90 "$PYTHON" "$DIALLER" "$mode" "$port" >"$mode.dialler" 2>&1 || true
    wait $pid || true
}

# expect_refused MODE PATTERN
expect_refused() {
    local mode=$1 pattern=$2
    run_case "$mode"
    [ "$(cat "$mode.status")" -ne 0 ] || fail "$mode: the converter succeeded"
    grep -v "listening on" "$mode.err" >"$mode.errors" || true
    [ "$(wc -l <"$mode.errors")" -eq 1 ] || { cat "$mode.err" >&2; fail "$mode: expected one error line"; }
    grep -Eq -e "$pattern" "$mode.errors" || { cat "$mode.err" >&2; fail "$mode: error does not match /$pattern/"; }
    [ -z "$(ls -A "out-$mode")" ] || { ls -la "out-$mode" >&2; fail "$mode: something was written into DIR"; }
    echo "$mode: exit $(cat "$mode.status"): $(cat "$mode.errors")"
}

expect_refused evil-name "export named '\.\./evil', which is not a safe file name"
expect_refused ctrl-name "export named 'bad\?name', which is not a safe file name"
expect_refused big-survey "survey is 5242880 bytes, more than the 4194304 allowed"
expect_refused bad-survey "schema_version"
# Nothing anywhere outside the output folders.
[ -z "$(find "$TEST_DIR" -name 'evil.*')" ] || fail "a file named after '../evil' exists"
[ "$(find "$TEST_DIR" -type f -newer "$DIALLER" ! -path '*/work/*' | wc -l)" -eq 0 ] ||
    fail "files written outside the work folder"

# Stale connections first, then a plain server: copied whole and identical.
run_case stale-first
[ "$(cat stale-first.status)" -eq 0 ] || { cat stale-first.err >&2; fail "stale-first: exit $(cat stale-first.status)"; }
grep -q "dialler: done" stale-first.dialler || fail "stale-first: the dialler never saw p2v:done"
"$PYTHON" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)' >expected.raw
qemu-img compare -q -f raw -F raw expected.raw out-stale-first/disk.raw || fail "stale-first: disk.raw differs"
[ ! -e out-stale-first/survey.json ] || fail "stale-first: a survey.json without a survey"
# A port probe (a script checking that the converter listens, like
# wait_for_port) is not the source: it must not turn --wait into a redial's
# 30 s.  Only a probe within --wait 2: "nobody dialled in", exit 3, after 2 s.
( rc=0; timeout 90 "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o out-probe --wait 2 \
      >probe.out 2>probe.err || rc=$?; echo $rc >probe.status ) &
pid=$!
for ((i = 0; i < 200; i++)); do grep -q "listening on" probe.err 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' probe.err)
[ -n "$port" ] || { cat probe.err >&2; fail "probe: the converter does not listen"; }
(exec 3<>"/dev/tcp/127.0.0.1/$port") || fail "probe: cannot connect"
wait $pid || true
[ "$(cat probe.status)" -eq 3 ] || { cat probe.err >&2; fail "probe: exit $(cat probe.status), not 3"; }
grep -v "listening on" probe.err >probe.errors || true
[ "$(wc -l <probe.errors)" -eq 1 ] && grep -q "nobody dialled in to 127.0.0.1:$port within 2 s" probe.errors ||
    { cat probe.err >&2; fail "probe: expected one 'nobody dialled in' line"; }
# A probe, then the source: copied.
( rc=0; timeout 90 "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o out-probe2 --wait 30 \
      >probe2.out 2>probe2.err || rc=$?; echo $rc >probe2.status ) &
pid=$!
for ((i = 0; i < 200; i++)); do grep -q "listening on" probe2.err 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' probe2.err)
(exec 3<>"/dev/tcp/127.0.0.1/$port") || fail "probe2: cannot connect"
sleep 1                                     # past the converter's settling
timeout 90 "$PYTHON" "$DIALLER" stale-first "$port" >probe2.dialler 2>&1 || true
wait $pid || true
[ "$(cat probe2.status)" -eq 0 ] || { cat probe2.err >&2; fail "probe2: exit $(cat probe2.status)"; }
qemu-img compare -q -f raw -F raw expected.raw out-probe2/disk.raw || fail "probe2: disk.raw differs"

# A dialler that announces no p2v session is not taken for the source.
expect_refused no-token "does not announce one p2v session for all its exports: it is not a p2v source of this version"

# An impostor next to the real source (p2v-agent serve --connect): it
# offers a disk of the same name and size (0xee bytes) under a guessed
# session token, or none, dialling again at once whenever a session ends.
# The converter, bound to the agent's session, refuses every impostor
# connection before reading anything (the impostor serves no READ), says
# so once, and the copy equals the real disk.
head -c $((16 * 1024 * 1024)) /dev/urandom >disk.img
mkdir real && mv disk.img real/
impostor_case() {
    local mode=$1 want=$2 port i
    ( rc=0; timeout 90 "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o "out-$mode" --wait 30 \
          >"$mode.out" 2>"$mode.err" || rc=$?; echo $rc >"$mode.status" ) &
    local pid=$!
    for ((i = 0; i < 200; i++)); do grep -q "listening on" "$mode.err" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$mode.err")
    [ -n "$port" ] || { cat "$mode.err" >&2; fail "$mode: the converter does not listen"; }
    # The impostor dials as soon as the agent has (so the agent is the
    # source), within the converter's settling: its sessions wait in line
    # before the agent's redials.
    GATE=$mode.gate DURATION=60 timeout 90 "$PYTHON" "$DIALLER" "$mode" "$port" disk.img \
        $((16 * 1024 * 1024)) >"$mode.dialler" 2>&1 &
    local impostor=$!
    timeout 90 "$P2V_AGENT" serve -vv --connect "127.0.0.1:$port" --connections 2 real/disk.img \
        2>"$mode.agent" &
    local agent=$!
    for ((i = 0; i < 1000; i++)); do grep -q "connected to the converter" "$mode.agent" && break; sleep 0.01; done
    touch "$mode.gate"
    wait $pid || true
    wait $agent || { cat "$mode.agent" >&2; fail "$mode: the agent failed"; }
    wait $impostor || true
    [ "$(cat "$mode.status")" -eq 0 ] || { cat "$mode.err" >&2; fail "$mode: exit $(cat "$mode.status")"; }
    cmp real/disk.img "out-$mode/disk.img.raw" || fail "$mode: the copy is not the real disk"
    grep -q "dialler: reads 0 busy [1-9]" "$mode.dialler" ||
        { cat "$mode.dialler" "$mode.err" >&2; fail "$mode: the impostor was read from, or never refused"; }
    [ "$(grep -c "$want" "$mode.err")" -eq 1 ] ||
        { cat "$mode.err" >&2; fail "$mode: expected one line '$want'"; }
    echo "$mode: $(grep "dialler: reads" "$mode.dialler"); $(grep -c . "$mode.err") converter lines"
}
impostor_case impostor-guess "refused a second source that dialled in from 127.0.0.1:[0-9]* (another session); give each source its own --listen port"
impostor_case impostor-none "refused a connection from 127.0.0.1:[0-9]* that announces no p2v session: it is not a p2v source of this version"

pass "dial-in refuses hostile names and surveys, sources without a session and impostors, skips stale connections and port probes"
