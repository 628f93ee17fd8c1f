#!/bin/bash
# p2v-convert copy and run --source against servers that accept the TCP
# connection and then stall before the copy: no NBD greeting, a greeting
# then silence, an export that never opens (nbdkit delay-open), and
# replies that never come to the first requests (nbdkit delay-read,
# delay-extents).  Each ends within --connect-timeout (plus a generous
# margin: this is not a timing test) with exit 3 and one line naming the
# step that stalled; run writes its report with preflight failed.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires nbdkit jq

DEADLINE=2
BOUND=$((DEADLINE + 15))        # seconds; the old code waits for ever

# start_silent PORT MODE: tests/nbd-silent-server.py, stopped at exit.
start_silent() {
    local port=$1 mode=$2
    "$PYTHON" "$P2V_SOURCE_DIR/tests/nbd-silent-server.py" "$port" "$mode" \
        >"$TEST_DIR/silent-$port.log" 2>&1 &
    local pid=$!
    eval "stop_silent_$port() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }"
    cleanup "stop_silent_$port"
    wait_for_port "$port" 20
}

# timed CODE PATTERN CMD...: CMD exits with CODE and one error line
# matching PATTERN, within BOUND seconds (timeout(1) stops a hang).
timed() {
    local code=$1 pattern=$2; shift 2
    local start end
    start=$(date +%s%N)
    expect_run_exit "$code" "$pattern" timeout -k 5 $((BOUND + 30)) "$@"
    end=$(date +%s%N)
    local ms=$(((end - start) / 1000000))
    [ "$ms" -lt $((BOUND * 1000)) ] || fail "took $ms ms (bound ${BOUND} s): $*"
    echo "  $ms ms: $*"
}

# copy_case URI PATTERN: copy ends with exit 3 and the line; no output.
copy_case() {
    local out=$TEST_DIR/out.raw
    timed 3 "$2" "$P2V_CONVERT" copy "$1" -o "$out" --connect-timeout "$DEADLINE"
    no_output "$out"
}

# run_case URI PATTERN: run ends with exit 3 and the line, and writes a
# report (valid JSON) whose failed phase is preflight, with that reason.
run_case() {
    local dir=$TEST_DIR/run-$RANDOM
    timed 3 "$2" "$P2V_CONVERT" run --source "$1" --out "$dir" --target kvm \
        --connect-timeout "$DEADLINE"
    jq -e . "$dir/report.json" >/dev/null || fail "report.json is not valid JSON"
    [ "$(report_phase "$dir" preflight)" = failed ] || fail "report: preflight not failed"
    [ "$(report_phase "$dir" inspect)" = absent ] || fail "report: inspect ran"
    jq -e --arg p "$2" '.result.ok == false and (.result.message | test($p))' \
        "$dir/report.json" >/dev/null || fail "report: result does not give the reason"
    grep -Eq -e "$2" "$dir/report.txt" || fail "report.txt does not give the reason"
    no_disk_outputs "$dir"
}

# 1. Accepts, never sends the greeting.
port=$(free_port)
start_silent "$port" silent
msg="the source at nbd://127.0.0.1:$port/disk accepted the connection but sent no NBD greeting within $DEADLINE s; is it an NBD server\?"
copy_case "nbd://127.0.0.1:$port/disk" "$msg"
run_case "nbd://127.0.0.1:$port/disk" "$msg"
# run without an export name lists the exports first: same deadline.
run_case "nbd://127.0.0.1:$port" "the source at nbd://127.0.0.1:$port accepted the connection but sent no NBD greeting within $DEADLINE s"
pass "no greeting"

# 2. Sends the greeting, then silence.
port=$(free_port)
start_silent "$port" greeting
msg="the source at nbd://127.0.0.1:$port/disk stopped answering during the NBD handshake \(after the greeting\) and did not finish it within $DEADLINE s"
copy_case "nbd://127.0.0.1:$port/disk" "$msg"
run_case "nbd://127.0.0.1:$port/disk" "$msg"
pass "greeting, then silence"

# 3-5 need nbdkit's delay filter with delay-open (nbdkit 1.28).
nbdkit --filter=delay null delay-open=1 --run true >/dev/null 2>&1 ||
    skip "this nbdkit's delay filter has no delay-open"
make_source "$TEST_DIR/src.img" >/dev/null

# 3. The export never opens.
port=$(free_port)
start_nbdkit "$port" --filter=delay file "$TEST_DIR/src.img" delay-open=60
msg="the source at nbd://127.0.0.1:$port/disk did not open export 'disk' within $DEADLINE s"
copy_case "nbd://127.0.0.1:$port/disk" "$msg"
run_case "nbd://127.0.0.1:$port/disk" "$msg"
pass "export never opens"

# 4. Block status never answers: copy's space check, run's used bytes.
port=$(free_port)
start_nbdkit "$port" --filter=delay file "$TEST_DIR/src.img" delay-extents=60
copy_case "nbd://127.0.0.1:$port/disk" \
    "the source at nbd://127.0.0.1:$port/disk stopped answering: no reply to block status at offset 0 of the export within $DEADLINE s"
run_case "nbd://127.0.0.1:$port/disk" \
    "the source at nbd://127.0.0.1:$port/disk stopped answering: no reply to block status at offset 0 of export disk within $DEADLINE s"
pass "block status never answers"

# 5. Reads never answer: run's first-sector read.
port=$(free_port)
start_nbdkit "$port" --filter=delay file "$TEST_DIR/src.img" delay-read=60
run_case "nbd://127.0.0.1:$port/disk" \
    "the source at nbd://127.0.0.1:$port/disk stopped answering: no reply to the first-sector read of export disk within $DEADLINE s"
pass "first-sector read never answers"

# A server that answers copies as before with the deadline set; the
# option's value is checked.
port=$(free_port)
start_nbdkit "$port" file "$TEST_DIR/src.img"
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$TEST_DIR/good.raw" --connect-timeout "$DEADLINE" \
    >/dev/null || fail "copy from a live server failed with --connect-timeout"
cmp "$TEST_DIR/src.img" "$TEST_DIR/good.raw" || fail "copy differs"
expect_exit 2 '--connect-timeout: "soon" is not a number from 0 to 604800$' \
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$TEST_DIR/x.raw" --connect-timeout soon
expect_exit 2 '--connect-timeout: ".*" is not a number from 0 to 604800$' \
    "$P2V_CONVERT" run --source "nbd://127.0.0.1:$port/" --out "$TEST_DIR/x" --target kvm \
    --connect-timeout -1
pass "live server, option check"
