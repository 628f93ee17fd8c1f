#!/bin/bash
# p2v-firstboot.exe --run-once under wine, four times as across four boots:
# the scripts run in name order with cmd.exe, each once; a script that
# fails twice then succeeds is done at its third attempt; one that always
# fails is run exactly 3 times, then moved to failed\; one already counted
# 3 times (a crash on its last attempt) is not run again; the log has each
# start, exit code and output; done\ and failed\ hold the right scripts.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
wine_setup

dir=$TEST_DIR/p2v              # stands for C:\Program Files\p2v (Z:\... in wine)
fb=$dir/firstboot
mkdir -p "$fb"
cp "$FIRSTBOOT_EXE" "$dir/"
crlf() { sed 's/$/\r/' > "$1"; }
crlf "$fb/0001-write.cmd" <<'CMD'
@echo off
echo 0001>> ..\order.txt
echo written by 0001> ..\file-0001.txt
echo hello from 0001
CMD
crlf "$fb/0002-flaky.cmd" <<'CMD'
@echo off
echo 0002>> ..\order.txt
if exist ..\flaky-2 (echo flaky succeeds& exit /b 0)
if exist ..\flaky-1 (echo x> ..\flaky-2 & echo flaky fails again& exit /b 1)
echo x> ..\flaky-1
echo flaky fails
exit /b 1
CMD
crlf "$fb/0003-always.cmd" <<'CMD'
@echo off
echo 0003>> ..\order.txt
echo always fails
exit /b 7
CMD
crlf "$fb/0004-write.cmd" <<'CMD'
@echo off
echo 0004>> ..\order.txt
echo written by 0004> ..\file-0004.txt
CMD
crlf "$fb/0005-crashed.cmd" <<'CMD'
@echo off
echo 0005>> ..\order.txt
CMD
# 0005 was started 3 times already (and never came back): not run again.
printf '3 0005-crashed.cmd\r\n' > "$fb/attempts.txt"

run_once() {     # EXPECTED-EXIT
    local status=0
    (cd "$TEST_DIR" && timeout 60 "$WINELOADER" "$dir/p2v-firstboot.exe" --run-once) \
        > "$TEST_DIR/stdout" 2>&1 || status=$?
    [ "$status" -eq "$1" ] || { cat "$TEST_DIR/stdout" >&2; fail "--run-once exited $status, expected $1"; }
}
order() { tr -d '\r' < "$dir/order.txt" | tr '\n' ' '; }
left() { (cd "$fb" && ls *.cmd 2>/dev/null | tr '\n' ' '); }

run_once 2
[ "$(order)" = "0001 0002 0003 0004 " ] || fail "first run, order: $(order)"
[ "$(left)" = "0002-flaky.cmd 0003-always.cmd " ] || fail "first run left: $(left)"
[ "$(ls "$fb/done" | tr '\n' ' ')" = "0001-write.cmd 0004-write.cmd " ] || fail "done\\: $(ls "$fb/done")"
[ "$(ls "$fb/failed" | tr '\n' ' ')" = "0005-crashed.cmd " ] || fail "failed\\: $(ls "$fb/failed")"
grep -q "written by 0001" "$dir/file-0001.txt" || fail "0001 did not write its file"
grep -q "written by 0004" "$dir/file-0004.txt" || fail "0004 did not write its file"
cmp -s "$TEST_DIR/stdout" "$dir/firstboot.log" || fail "--run-once's output is not the log"

run_once 2
[ "$(order)" = "0001 0002 0003 0004 0002 0003 " ] || fail "second run, order: $(order)"
run_once 0
[ "$(order)" = "0001 0002 0003 0004 0002 0003 0002 0003 " ] || fail "third run, order: $(order)"
[ -z "$(left)" ] || fail "scripts left after the third run: $(left)"
[ "$(ls "$fb/done" | tr '\n' ' ')" = "0001-write.cmd 0002-flaky.cmd 0004-write.cmd " ] ||
    fail "done\\ after the third run: $(ls "$fb/done")"
[ "$(ls "$fb/failed" | tr '\n' ' ')" = "0003-always.cmd 0005-crashed.cmd " ] ||
    fail "failed\\ after the third run: $(ls "$fb/failed")"
run_once 0                      # nothing left: nothing runs
[ "$(order)" = "0001 0002 0003 0004 0002 0003 0002 0003 " ] || fail "fourth run ran: $(order)"

# The log, without its time stamps.
log=$TEST_DIR/log
sed -e 's/\r$//' -e 's/^[0-9]\{4\}-[0-9-]* [0-9:]* //' "$dir/firstboot.log" > "$log"
expect_line() { grep -qxF -e "$1" "$log" || { cat "$log" >&2; fail "no log line: $1"; }; }
expect_count() { local n; n=$(grep -cxF -e "$2" "$log" || true); [ "$n" -eq "$1" ] || fail "log line seen $n times, expected $1: $2"; }
expect_count 4 "p2v-firstboot: started"
expect_count 4 "p2v-firstboot: done"
expect_line "0001-write.cmd: attempt 1 of 3"
expect_line "    hello from 0001"
expect_line "0001-write.cmd: exit code 0"
expect_line "0002-flaky.cmd: attempt 2 of 3"
expect_line "    flaky fails again"
expect_line "0002-flaky.cmd: attempt 3 of 3"
expect_line "    flaky succeeds"
expect_count 2 "0002-flaky.cmd: exit code 1"
expect_count 1 "0002-flaky.cmd: exit code 0"
expect_count 3 "    always fails"
expect_count 3 "0003-always.cmd: exit code 7"
expect_line "0003-always.cmd: failed 3 times: moved to failed\\"
expect_line "0005-crashed.cmd: failed 3 times: moved to failed\\"
expect_count 0 "0005-crashed.cmd: attempt 1 of 3"
expect_count 2 "no service p2v-firstboot is registered: nothing to remove"
# Within one run, the log follows the name order.
run1=$(awk '/p2v-firstboot: started/{n++} n==1 && / attempt /{print $1}' "$log" | tr '\n' ' ')
[ "$run1" = "0001-write.cmd: 0002-flaky.cmd: 0003-always.cmd: 0004-write.cmd: " ] ||
    fail "first run's log order: $run1"
# One run at a time: a second --run-once while one runs refuses, in one line.
crlf "$fb/0006-wait.cmd" <<'CMD'
@echo off
echo waiting for ..\go
:again
if not exist ..\go goto again
CMD
(cd "$TEST_DIR" && timeout 60 "$WINELOADER" "$dir/p2v-firstboot.exe" --run-once) > "$TEST_DIR/first" 2>&1 &
first=$!
for ((i = 0; i < 200; i++)); do grep -q "waiting for" "$dir/firstboot.log" && break; sleep 0.1; done
grep -q "waiting for" "$dir/firstboot.log" || fail "0006-wait.cmd did not start"
expect_error "^p2v-firstboot: another run is in progress \(the service\?\): wait until firstboot.log says done, then try again" \
    "$WINELOADER" "$dir/p2v-firstboot.exe" --run-once
touch "$dir/go"
wait "$first" || fail "the first run failed: $(cat "$TEST_DIR/first")"
[ -f "$fb/done/0006-wait.cmd" ] || fail "0006-wait.cmd is not done"
pass "--run-once: name order, 3 attempts at most, log, done\\ and failed\\"
