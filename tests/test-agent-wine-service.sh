#!/bin/bash
# p2v-agent.exe as the Windows service p2v-agent, under wine's service
# manager: a bad serve option refuses the install with serve's own line
# and registers nothing; install (a disk path with a space, relative)
# registers it with the ImagePath quoted, automatic delayed start and the
# description; installing twice says so in one line; 'status' says
# stopped (exit 3) with the configured address; 'sc start' runs it and
# nbdinfo reads the export over the port; 'status' says running (exit 0);
# 'stop' closes the port and 'status' says stopped; 'start' (ours) runs it
# again; a stop from 'sc stop' too; 'uninstall' stops the running service
# and removes it ('sc query' fails, 'status' exit 4); a disk that went
# away makes 'start' fail with the agent's own error line.
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
requires nbdinfo nbdcopy jq
AGENT_EXE=$P2V_BUILD_DIR/share/p2v/p2v-agent.exe
[ -f "$AGENT_EXE" ] || skip "no $AGENT_EXE (mingw-w64 missing at build time?)"
wine_setup

# Where an administrator would put it: the service runs it from there.
dir=$WINEPREFIX/drive_c/p2v
mkdir -p "$dir" "$WINEPREFIX/drive_c/disk images"
cp "$AGENT_EXE" "$dir/"
exe='C:\p2v\p2v-agent.exe'
disk=$WINEPREFIX/drive_c/disk\ images/disk.img
truncate -s 8M "$disk"
head -c 1M /dev/urandom | dd of="$disk" conv=notrunc status=none
size=$(stat -c %s "$disk")

agent() { wine_run "$exe" "$@"; }
sc() { wine_run sc "$@" >"$TEST_DIR/sc.out" 2>&1; }
# status_is CODE PATTERN: 'p2v-agent status' exits CODE with one line matching PATTERN.
status_is() {
    local rc=0
    agent status >"$TEST_DIR/status.out" 2>"$TEST_DIR/status.err" || rc=$?
    local out
    out=$(tr -d '\r' <"$TEST_DIR/status.out")
    [ "$rc" -eq "$1" ] && [ "$(wc -l <"$TEST_DIR/status.out")" -eq 1 ] && [[ $out =~ $2 ]] ||
        fail "status: exit $rc, '$out' $(cat "$TEST_DIR/status.err"), expected exit $1 and /$2/"
}
port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=$(free_port)
status_is 4 '^p2v-agent: not installed$'

# A bad option: serve's own line, exit 2, nothing registered.
expect_error "^p2v-agent: --max-clients: \"0\" is not a number from 1 to 1024; see 'p2v-agent serve --help'" \
    agent install --listen "127.0.0.1:$port" --max-clients 0 'C:\disk images\disk.img'
expect_error "^p2v-agent: refusing to serve disks on 0\.0\.0\.0:$port in clear text" \
    agent install --listen "0.0.0.0:$port" 'C:\disk images\disk.img'
expect_error "^p2v-agent: cannot open disk C:.*missing\.img" \
    agent install --listen "127.0.0.1:$port" 'C:\disk images\missing.img'
! sc query p2v-agent || fail "a refused install registered the service: $(cat "$TEST_DIR/sc.out")"

# Install, from C:\ with a relative disk path (made absolute).
(cd "$WINEPREFIX/drive_c" && wine_run "$exe" install --listen "127.0.0.1:$port" --console \
    'disk images\disk.img') >"$TEST_DIR/install.out" 2>&1 ||
    { cat "$TEST_DIR/install.out" >&2; fail "install failed"; }
grep -q "installed (delayed automatic start, listening on 127.0.0.1:$port)" "$TEST_DIR/install.out" ||
    { cat "$TEST_DIR/install.out" >&2; fail "no 'installed' line"; }
sc query p2v-agent || fail "sc query after install: $(cat "$TEST_DIR/sc.out")"
key='HKLM\System\CurrentControlSet\Services\p2v-agent'
wine_run reg query "$key" 2>/dev/null | tr -d '\r' >"$TEST_DIR/reg.txt"
want_path="\"C:\\p2v\\p2v-agent.exe\" service --listen 127.0.0.1:$port --console \"C:\\disk images\\disk.img\""
grep -qF "ImagePath    REG_SZ    $want_path" "$TEST_DIR/reg.txt" ||
    { cat "$TEST_DIR/reg.txt" >&2; fail "ImagePath is not $want_path"; }
grep -qE 'Start +REG_DWORD +0x2$' "$TEST_DIR/reg.txt" || fail "not automatic start: $(cat "$TEST_DIR/reg.txt")"
grep -qiE 'DelayedAutostart +REG_DWORD +0x1$' "$TEST_DIR/reg.txt" || fail "not delayed: $(cat "$TEST_DIR/reg.txt")"
grep -qE 'Type +REG_DWORD +0x10$' "$TEST_DIR/reg.txt" || fail "not its own process: $(cat "$TEST_DIR/reg.txt")"
grep -q 'Description.*read-only over NBD' "$TEST_DIR/reg.txt" || fail "no description: $(cat "$TEST_DIR/reg.txt")"
expect_error "^p2v-agent: cannot install the service p2v-agent: it is already installed: run 'p2v-agent uninstall' first" \
    agent install --listen "127.0.0.1:$port" 'C:\disk images\disk.img'
status_is 3 "^p2v-agent: stopped \(when started: listening on 127\.0\.0\.1:$port\)$"

# sc start: the port serves the export; status says running.
sc start p2v-agent || fail "sc start: $(cat "$TEST_DIR/sc.out")"
wait_for_port "$port" 30
nbdinfo --json "nbd://127.0.0.1:$port/disk.img" >"$TEST_DIR/info.json" ||
    { cat "$dir/p2v-agent.log" >&2; fail "nbdinfo"; }
jq -e ".exports[0][\"export-size\"] == $size" "$TEST_DIR/info.json" >/dev/null ||
    { cat "$TEST_DIR/info.json" >&2; fail "export size"; }
nbdcopy "nbd://127.0.0.1:$port/disk.img" "$TEST_DIR/copy.raw" || fail "nbdcopy"
cmp "$disk" "$TEST_DIR/copy.raw" || fail "the served bytes differ"
status_is 0 "^p2v-agent: running \(pid [0-9]+\), listening on 127\.0\.0\.1:$port$"
grep -q "p2v-agent: serving on 127.0.0.1:$port" "$dir/p2v-agent.log" ||
    { cat "$dir/p2v-agent.log" >&2; fail "no serving line in p2v-agent.log"; }

# stop: returns once stopped, the port closed.
agent stop >"$TEST_DIR/stop.out" 2>&1 || { cat "$TEST_DIR/stop.out" >&2; fail "stop failed"; }
grep -q "^p2v-agent: stopped" "$TEST_DIR/stop.out" || fail "stop says: $(cat "$TEST_DIR/stop.out")"
port_closed "$port" || fail "the port is still open after stop"
status_is 3 '^p2v-agent: stopped \(when started'
grep -q "stop asked by the service manager" "$dir/p2v-agent.log" || fail "no stop line in the log"
[ "$(tr -d '\r' <"$dir/p2v-agent.log" | grep -c ': stopped$')" -eq 1 ] || fail "no clean stop in the log: $(cat "$dir/p2v-agent.log")"

# Our start waits until it serves: the port answers at once.
agent start >"$TEST_DIR/start.out" 2>&1 || { cat "$TEST_DIR/start.out" "$dir/p2v-agent.log" >&2; fail "start failed"; }
grep -q "^p2v-agent: running (pid [0-9]*), listening on 127.0.0.1:$port" "$TEST_DIR/start.out" ||
    fail "start says: $(cat "$TEST_DIR/start.out")"
nbdinfo --size "nbd://127.0.0.1:$port/disk.img" | grep -qx "$size" || fail "not serving right after start"
# sc stop (the SCM's STOP, as services.msc sends it) stops it too.
sc stop p2v-agent || fail "sc stop: $(cat "$TEST_DIR/sc.out")"
for ((i = 0; i < 100; i++)); do port_closed "$port" && break; sleep 0.1; done
port_closed "$port" || fail "the port is still open 10 s after sc stop"

# A disk gone: start fails with the agent's own line.
agent start >/dev/null 2>&1 || true
agent stop >/dev/null 2>&1 || true
mv "$disk" "$disk.away"
expect_error "^p2v-agent: the service p2v-agent stopped as it started: cannot open disk C:.disk images.disk\.img.*\(exit code 1; log: C:.p2v.p2v-agent\.log\)" \
    agent start
status_is 3 "its last run failed with exit code 1: see C:.p2v.p2v-agent\.log$"
mv "$disk.away" "$disk"

# uninstall stops it first, then removes it.
agent start >/dev/null 2>&1 || fail "start before uninstall"
agent uninstall >"$TEST_DIR/uninstall.out" 2>&1 || { cat "$TEST_DIR/uninstall.out" >&2; fail "uninstall failed"; }
grep -q "^p2v-agent: uninstalled" "$TEST_DIR/uninstall.out" || fail "uninstall says: $(cat "$TEST_DIR/uninstall.out")"
port_closed "$port" || fail "the port is still open after uninstall"
for ((i = 0; i < 20; i++)); do sc query p2v-agent || break; sleep 0.1; done
! sc query p2v-agent || fail "sc query still finds p2v-agent after uninstall"
status_is 4 '^p2v-agent: not installed$'
# 'service' from a console is not how it runs.
expect_error "^p2v-agent: 'p2v-agent service' is what the service manager runs" agent service 'C:\disk images\disk.img'
pass "p2v-agent.exe service: install (quoted, delayed), refusals, sc start/stop, start/stop/status, uninstall"
