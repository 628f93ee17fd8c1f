#!/bin/bash
# One rule for disks on a network (docs/p2v-agent.md, "Clear text"): off
# loopback they travel only with TLS required and a client that proves
# itself (PSK, or a client certificate), or with --insecure (one warning
# line).  Checked for p2v-agent serve --listen and --connect, p2v-convert
# copy --listen and run --listen, and p2v-live (dial and serve), inside a
# network namespace of its own with a TEST-NET address on its loopback
# device, so nothing leaves the machine: the test runs itself again under
# `unshare -n`.
# labels: tls
# SPDX-License-Identifier: GPL-3.0-or-later
if [ "${P2V_TLS_RULES_NETNS:-}" != 1 ]; then
    unshare -n true 2>/dev/null || { echo "SKIP: unshare -n is not permitted here" >&2; exit 77; }
    P2V_TLS_RULES_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/tls-helpers.sh"
requires ip nbdinfo psktool certtool cmp
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
LIVE=$P2V_BUILD_DIR/p2v-live/p2v-live
[ -x "$P2V_AGENT" ] && [ -x "$P2V_CONVERT" ] && [ -x "$LIVE" ] || skip "the programs are not built"

# An empty namespace: lo and a documentation address (RFC 5737) on it, so
# 192.0.2.1 is a non-loopback address that only this namespace reaches.
ip link set lo up
ip addr add 192.0.2.1/32 dev lo
ADDR=192.0.2.1
cd "$TEST_DIR"

head -c 3M /dev/urandom >disk.img
truncate -s 8M disk.img
psktool -u convert -p keys.psk >/dev/null 2>&1
make_pki pki "$ADDR"
agent_prefix="p2v-agent: refusing to serve disks"
clear_fix="in clear text: use --tls=require with certificates or a PSK, or --insecure on a trusted network"
verify_fix="without verifying the client: add --tls-verify-peer (client certificates signed by the CA), use --tls-psk alone, or --insecure on a trusted network"

# refused STATUS "LINE" CMD...: CMD exits STATUS at once, printing exactly LINE.
refused() {
    local want_status=$1 line=$2 status=0; shift 2
    timeout 20 "$@" >out 2>err || status=$?
    [ "$status" = "$want_status" ] || { cat err >&2; fail "exit $status, not $want_status, from: $*"; }
    [ "$(cat err)" = "$line" ] || { cat err >&2; fail "not the line '$line' from: $*"; }
}
# listening NAME: wait for the converter's "listening on" line.
listening() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$1.err" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$1.err" >&2
    fail "the converter $1 does not listen"
}
# start_converter NAME ARGS...: copy --listen in the background (bounded);
# its status goes to NAME.status.
start_converter() {
    local name=$1; shift
    ( rc=0; timeout 60 "$P2V_CONVERT" copy "$@" >"$name.out" 2>"$name.err" || rc=$?
      echo $rc >"$name.status" ) &
    CONV_PID=$!
    eval "stop_conv_$name() { kill $CONV_PID 2>/dev/null; wait $CONV_PID 2>/dev/null; }"
    cleanup "stop_conv_$name"
}
converter_done() {     # NAME: it ended with 0 and its copy is the disk
    wait "$CONV_PID" || true
    [ "$(cat "$1.status")" = 0 ] || { cat "$1.err" >&2; fail "converter $1 exited $(cat "$1.status")"; }
    cmp disk.img "$1/disk.img.raw" || fail "converter $1: the copy differs from the disk"
}
# wait_listen PORT: until something accepts on ADDR:PORT (an agent).
wait_listen() {
    local i
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/$ADDR/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listens on $ADDR:$1"
}

# ---- p2v-agent serve --connect: clear text refused, --insecure warns and
# really copies to a converter that accepted clear text with --insecure ----
refused 2 "$agent_prefix to $ADDR:10809 $clear_fix" \
    "$P2V_AGENT" serve --connect "$ADDR:10809" disk.img
refused 2 "$agent_prefix to $ADDR:10809 $verify_fix" \
    "$P2V_AGENT" serve --connect "$ADDR:10809" --tls-certificates pki/server disk.img
start_converter clear --listen "$ADDR:10809" --insecure -O raw -o clear --wait 30
listening clear
grep -qx "p2v-convert: warning: disks cross $ADDR:10809 in clear text (--insecure)" clear.err ||
    { cat clear.err >&2; fail "copy --listen --insecure: no warning line"; }
timeout 60 "$P2V_AGENT" serve --connect "$ADDR:10809" --insecure disk.img 2>agent.err ||
    { cat agent.err >&2; fail "agent --connect --insecure failed"; }
grep -qx "p2v-agent: warning: disks cross $ADDR:10809 in clear text (--insecure)" agent.err ||
    { cat agent.err >&2; fail "agent --connect --insecure: no warning line"; }
converter_done clear
pass "agent --connect: clear text refused, --insecure warns and copies"

# ---- p2v-convert copy --listen: clear text refused, a PSK accepted ----
refused 2 "p2v-convert: refusing to receive disks on $ADDR:10810 in clear text: use --tls-psk FILE, or --insecure on a trusted network" \
    "$P2V_CONVERT" copy --listen "$ADDR:10810" -O raw -o refused
[ ! -e refused ] || fail "the refused copy made its output folder"
start_converter psk --listen "$ADDR:10810" --tls-psk keys.psk -O raw -o psk --wait 30
listening psk
! grep -q "disks cross" psk.err || { cat psk.err >&2; fail "copy --listen --tls-psk warned"; }
timeout 60 "$P2V_AGENT" serve --connect "$ADDR:10810" --tls-psk keys.psk disk.img 2>agent.err ||
    { cat agent.err >&2; fail "agent --connect --tls-psk failed"; }
! grep -q "disks cross" agent.err || { cat agent.err >&2; fail "agent --connect --tls-psk warned"; }
converter_done psk
pass "copy --listen: clear text refused, a PSK accepted"

# ---- p2v-convert run --listen: refused before anything else ----
refused 2 "p2v-convert: refusing to receive disks on $ADDR:10811 in clear text: use --tls-psk FILE, or --insecure on a trusted network" \
    "$P2V_CONVERT" run --listen "$ADDR:10811" --out run --target kvm
[ ! -e run ] || fail "the refused run made its output folder"
refused 2 "p2v-convert: --insecure is for --listen (a SOURCE URI says nbd:// or nbds:// itself)" \
    "$P2V_CONVERT" copy "nbd://127.0.0.1:1/disk.img" --insecure -o uri.raw
pass "run --listen: clear text refused"

# ---- p2v-agent serve --listen with X.509: client certificates required ----
refused 2 "$agent_prefix on $ADDR:10812 $clear_fix" \
    "$P2V_AGENT" serve --listen "$ADDR:10812" disk.img
refused 2 "$agent_prefix on $ADDR:10812 $verify_fix" \
    "$P2V_AGENT" serve --listen "$ADDR:10812" --tls-certificates pki/server disk.img
"$P2V_AGENT" serve --listen "$ADDR:10812" --tls-certificates pki/server --tls-verify-peer \
    disk.img 2>verify.err &
agent=$!
stop_agent() { kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; }
cleanup stop_agent
wait_listen 10812
[ "$(nbdinfo --size "nbds://$ADDR:10812/disk.img?tls-certificates=$TEST_DIR/pki/client")" = $((8 << 20)) ] ||
    fail "--tls-verify-peer: a client with a certificate did not get in"
if nbdinfo --size "nbds://$ADDR:10812/disk.img?tls-certificates=$TEST_DIR/pki/nocert" >/dev/null 2>&1; then
    fail "--tls-verify-peer: a client without a certificate got in"
fi
! grep -q "disks cross" verify.err || { cat verify.err >&2; fail "X.509 with --tls-verify-peer warned"; }
stop_agent
# --insecure overrides, with its warning.
"$P2V_AGENT" serve --listen "$ADDR:10813" --tls-certificates pki/server --insecure disk.img 2>anyone.err &
agent=$!
wait_listen 10813
grep -qx "p2v-agent: warning: disks cross $ADDR:10813 to any TLS client, none verified (--insecure)" anyone.err ||
    { cat anyone.err >&2; fail "X.509 without --tls-verify-peer, --insecure: no warning line"; }
stop_agent
pass "agent --listen: X.509 needs --tls-verify-peer (or --insecure, with a warning)"

# ---- p2v-live: the same rule, p2v.insecure=1 to override ----
live_status=0
timeout 30 "$LIVE" --no-network --disk disk.img --catalog none.json \
    --settings "p2v.mode=dial p2v.server=$ADDR p2v.port=10814 p2v.auto=1" >p2v-live.log 2>&1 || live_status=$?
[ "$live_status" = 1 ] || { cat p2v-live.log >&2; fail "p2v-live in clear text ended with $live_status, not 1"; }
grep -qx "p2v-live: refusing to serve disks to $ADDR:10814 in clear text: set p2v.tls=require and p2v.tls_psk=USER:HEXKEY, or p2v.insecure=1 on a trusted network" p2v-live.log &&
    grep -q '^##  CLEAR TEXT REFUSED' p2v-live.log || { cat p2v-live.log >&2; fail "p2v-live: no refusal line and banner"; }
live_status=0
timeout 30 "$LIVE" --no-network --disk disk.img --catalog none.json --listen "$ADDR:10815" \
    --settings "p2v.mode=serve p2v.auto=1" >p2v-live.log 2>&1 || live_status=$?
[ "$live_status" = 1 ] && grep -q "refusing to serve disks on $ADDR:10815 in clear text" p2v-live.log ||
    { cat p2v-live.log >&2; fail "p2v-live serve in clear text was not refused"; }
start_converter live --listen "$ADDR:10814" --insecure -O raw -o live --wait 30
listening live
timeout 60 "$LIVE" --no-network --disk disk.img --catalog none.json \
    --settings "p2v.mode=dial p2v.server=$ADDR p2v.port=10814 p2v.connections=1 p2v.auto=1 p2v.insecure=1" \
    >p2v-live.log 2>&1 || { cat p2v-live.log >&2; fail "p2v-live with p2v.insecure=1 failed"; }
grep -q "warning: disks cross $ADDR:10814 in clear text (p2v.insecure=1)" p2v-live.log ||
    { cat p2v-live.log >&2; fail "p2v-live with p2v.insecure=1: no warning line"; }
converter_done live
pass "p2v-live: clear text refused, p2v.insecure=1 warns and copies"
