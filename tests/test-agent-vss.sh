#!/bin/bash
# p2v-agent.exe serve --snapshot under wine, against a TEST DOUBLE of VSS
# (VSS does not run under wine): tests/windows/vssapi-double is a fake
# vssapi.dll, put beside the agent and loaded with WINEDLLOVERRIDES=vssapi=n,
# that logs each call, refuses calls out of order, fails the step we name,
# and gives plain files of ours as the shadow-copy devices.  It asserts:
# the requester's calls in order (copy backup, writers checked before and
# after DoSnapshotSet); the served bytes are the shadow devices' (nbdcopy +
# cmp), one export per volume (C, D); the snapshot is kept while serving
# and released on the client's p2v:done (BackupComplete) and on Ctrl-C
# (AbortBackup), each time DeleteSnapshots, Release and no object left; and
# each injected failure (writer failed before or after, snapshot set
# failure, shadow storage full, volume not supported, ...) gives one line
# naming the step, the volume and what to do, exit 1, and the snapshot
# released.  The Linux agent refuses --snapshot in one line.
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
requires nbdinfo nbdcopy jq
AGENT_EXE=$P2V_BUILD_DIR/share/p2v/p2v-agent.exe
DOUBLE_DLL=$P2V_BUILD_DIR/windows/tests/windows/vssapi-double/vssapi.dll
[ -f "$AGENT_EXE" ] || skip "no $AGENT_EXE (mingw-w64 missing at build time?)"
[ -f "$DOUBLE_DLL" ] || skip "no $DOUBLE_DLL (mingw-w64 missing at build time?)"

# The Linux agent has no snapshot provider: one line, before any disk.
if [ -x "$P2V_AGENT" ]; then
    expect_error "^p2v-agent: --snapshot takes a VSS snapshot, which only the Windows agent" \
        "$P2V_AGENT" serve --snapshot C:
fi

wine_setup
# The double beside the agent, preferred to wine's own vssapi.dll.
mkdir "$TEST_DIR/bin" "$TEST_DIR/vol"
cp "$AGENT_EXE" "$DOUBLE_DLL" "$TEST_DIR/bin/"
agent="$TEST_DIR/bin/p2v-agent.exe"
export WINEDLLOVERRIDES="$WINEDLLOVERRIDES;vssapi=n"
winpath() { wine_run winepath -w "$1" 2>/dev/null; }

# The "shadow copies": C (random, then a pattern) and D.
c_img=$TEST_DIR/vol/c.img d_img=$TEST_DIR/vol/d.img
head -c 6M /dev/urandom >"$c_img"
{ yes 'volume C at the snapshot' || true; } | head -c 2M >>"$c_img"
head -c 3M /dev/urandom >"$d_img"
vss_log=$TEST_DIR/vss.log
P2V_VSS_DOUBLE_LOG=$(winpath "$vss_log")
P2V_VSS_DOUBLE_DEVICES="$(winpath "$c_img")|$(winpath "$d_img")"
[[ $P2V_VSS_DOUBLE_LOG == [A-Z]:\\* ]] || fail "winepath gave '$P2V_VSS_DOUBLE_LOG'"
export P2V_VSS_DOUBLE_LOG P2V_VSS_DOUBLE_DEVICES

# expect_log FILE: the double's log is exactly FILE.
expect_log() {
    diff -u "$1" "$vss_log" >&2 || fail "the calls to VSS differ from $(basename "$1") (above)"
}
# The requester's sequence up to a taken snapshot, for VOLUME... (as VSS gets them).
taken_calls() {
    local v
    printf '%s\n' "load (test double)" CreateVssBackupComponents InitializeForBackup \
        "SetBackupState select=0 bootable=0 type=copy partial=0" GatherWriterMetadata \
        StartSnapshotSet
    for v in "$@"; do echo "AddToSnapshotSet $v"; done
    printf '%s\n' PrepareForBackup GatherWriterStatus GetWriterStatusCount GetWriterStatus \
        GetWriterStatus FreeWriterStatus DoSnapshotSet GatherWriterStatus \
        GetWriterStatusCount GetWriterStatus GetWriterStatus FreeWriterStatus
    for v in "$@"; do printf '%s\n' GetSnapshotProperties VssFreeSnapshotProperties; done
}

# start_agent_exe PORT ARGS...: the agent in the background (the loader
# itself, so that signals reach it); AGENT_PID.
start_agent_exe() {
    local port=$1; shift
    : >"$vss_log"
    "$WINELOADER" "$agent" serve --listen "127.0.0.1:$port" "$@" >"$TEST_DIR/agent.log" 2>&1 &
    AGENT_PID=$!
    wait_for_port "$port" 30 || { cat "$TEST_DIR/agent.log" >&2; exit 1; }
}
stop_wine_agent() { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; return 0; }
cleanup stop_wine_agent
# wait_agent_exit: AGENT_STATUS, once the agent has exited by itself (10 s at most).
wait_agent_exit() {
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TEST_DIR/agent.log" >&2; fail "the agent did not exit"; }
    AGENT_STATUS=0
    wait "$AGENT_PID" || AGENT_STATUS=$?
}

# 1. Two volumes: the snapshot is taken before serving; the exports are
# the shadow copies; the snapshot lives while the agent serves; the
# converter's p2v:done (and its hanging up) ends the session, complete.
port=$(free_port)
start_agent_exe "$port" --snapshot C: 'D:\'
grep -q "serving 2 disk(s) on 127.0.0.1:$port" "$TEST_DIR/agent.log" ||
    { cat "$TEST_DIR/agent.log" >&2; fail "no 'serving' line"; }
taken_calls 'C:\' 'D:\' >"$TEST_DIR/expect-taken"
expect_log "$TEST_DIR/expect-taken"
nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json"
[ "$(jq -r '[.exports[]["export-name"]] | join(",")' "$TEST_DIR/list.json")" = "C,D,p2v:done" ] ||
    { cat "$TEST_DIR/list.json" >&2; fail "export names"; }
nbdcopy --connections=2 "nbd://127.0.0.1:$port/C" "$TEST_DIR/c.raw"
nbdcopy "nbd://127.0.0.1:$port/D" "$TEST_DIR/d.raw"
cmp "$c_img" "$TEST_DIR/c.raw" || fail "export C differs from the shadow copy of C:"
cmp "$d_img" "$TEST_DIR/d.raw" || fail "export D differs from the shadow copy of D:"
expect_log "$TEST_DIR/expect-taken"          # copies done, snapshot still there
nbdinfo "nbd://127.0.0.1:$port/p2v:done" >/dev/null
wait_agent_exit
[ "$AGENT_STATUS" = 0 ] ||
    { cat "$TEST_DIR/agent.log" >&2; fail "the agent exited $AGENT_STATUS after p2v:done"; }
grep -q "the converter has everything; releasing the snapshot" "$TEST_DIR/agent.log" ||
    { cat "$TEST_DIR/agent.log" >&2; fail "no line saying the snapshot is released"; }
{ cat "$TEST_DIR/expect-taken"
  printf '%s\n' BackupComplete "DeleteSnapshots set=ours snapshots=2" \
      "Release refs=0 snapshots-left=0 backup=complete" "unload objects-alive=0"; } >"$TEST_DIR/expect-done"
expect_log "$TEST_DIR/expect-done"

# 2. Ctrl-C while serving: the backup is aborted, the snapshot deleted.
start_agent_exe "$port" --snapshot C:
kill -INT "$AGENT_PID"
wait_agent_exit
[ "$AGENT_STATUS" = 0 ] ||
    { cat "$TEST_DIR/agent.log" >&2; fail "the agent exited $AGENT_STATUS after Ctrl-C"; }
{ taken_calls 'C:\'
  printf '%s\n' AbortBackup "DeleteSnapshots set=ours snapshots=1" \
      "Release refs=0 snapshots-left=0 backup=aborted" "unload objects-alive=0"; } >"$TEST_DIR/expect-stop"
expect_log "$TEST_DIR/expect-stop"

# 3. Dial-in: the agent dials a listening p2v-convert copy, which takes the
# shadow copy and says done; the backup completes, the snapshot goes.
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
if [ -x "$P2V_CONVERT" ]; then
    : >"$vss_log"
    "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o "$TEST_DIR/dialin" --wait 30 \
        >"$TEST_DIR/conv.out" 2>"$TEST_DIR/conv.err" &
    conv_pid=$!
    stop_conv() { kill "$conv_pid" 2>/dev/null; wait "$conv_pid" 2>/dev/null; return 0; }
    cleanup stop_conv
    for ((i = 0; i < 100; i++)); do grep -q "listening on" "$TEST_DIR/conv.err" && break; sleep 0.1; done
    conv_port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$TEST_DIR/conv.err")
    [ -n "$conv_port" ] || { cat "$TEST_DIR/conv.err" >&2; fail "the converter does not listen"; }
    timeout 60 "$WINELOADER" "$agent" serve --snapshot --connect "127.0.0.1:$conv_port" C: \
        2>"$TEST_DIR/dial.err" </dev/null || { cat "$TEST_DIR/dial.err" >&2; fail "the dialling agent failed"; }
    wait "$conv_pid" || { cat "$TEST_DIR/conv.err" >&2; fail "the converter failed"; }
    cmp "$c_img" "$TEST_DIR/dialin/C.raw" || fail "the dial-in copy of C differs"
    { taken_calls 'C:\'
      printf '%s\n' BackupComplete "DeleteSnapshots set=ours snapshots=1" \
          "Release refs=0 snapshots-left=0 backup=complete" "unload objects-alive=0"; } >"$TEST_DIR/expect-dial"
    expect_log "$TEST_DIR/expect-dial"
fi

# 4. Each failure: one line (step, volume, what to do), exit 1, and nothing
# left: the backup ended (none: not started), the set deleted, every
# object released.  FAIL | backup end | volumes | the line.
s='^p2v-agent: snapshot of'
while IFS='|' read -r inject end volumes pattern; do
    [ -n "$inject" ] || continue
    : >"$vss_log"
    devices=$P2V_VSS_DOUBLE_DEVICES
    [ "$inject" = no-device ] && devices=$(winpath "$TEST_DIR/vol/missing.img")
    # shellcheck disable=SC2086  # volumes: one or two words
    P2V_VSS_DOUBLE_FAIL=$inject P2V_VSS_DOUBLE_DEVICES=$devices expect_error "$pattern" \
        timeout 30 "$WINELOADER" "$agent" serve --snapshot --listen "127.0.0.1:$port" $volumes \
        </dev/null
    grep -q "^unload objects-alive=0$" "$vss_log" || { cat "$vss_log" >&2; fail "$inject: objects left"; }
    if [ "$end" != - ]; then
        tail -2 "$vss_log" | head -1 | grep -qx "Release refs=0 snapshots-left=0 backup=$end" ||
            { cat "$vss_log" >&2; fail "$inject: not released with backup=$end"; }
    fi
    if [ "$end" = aborted ]; then
        grep -qx AbortBackup "$vss_log" && grep -q "^DeleteSnapshots set=ours" "$vss_log" ||
            { cat "$vss_log" >&2; fail "$inject: no AbortBackup and DeleteSnapshots"; }
    fi
done <<EOF
CreateVssBackupComponents=0x80070005|-|C:|$s C: failed at CreateVssBackupComponents: access denied \(E_ACCESSDENIED\); run p2v-agent as an administrator
InitializeForBackup|none|C:|$s C: failed at InitializeForBackup: VSS failed \(VSS_E_UNEXPECTED\); the Application event log \(source VSS\) says why
GatherWriterMetadata=0x80042318|none|C:|$s C: failed at GatherWriterMetadata: the VSS writer infrastructure does not work \(VSS_E_WRITER_INFRASTRUCTURE\); restart the 'Volume Shadow Copy'
StartSnapshotSet=0x80042316|none|C:|$s C: failed at StartSnapshotSet: another snapshot is being taken \(a backup running\?\) \(VSS_E_SNAPSHOT_SET_IN_PROGRESS\); wait until it is done
AddToSnapshotSet=0x8004230c|aborted|C:|$s C: failed at AddToSnapshotSet: VSS cannot snapshot C: \(not a local NTFS or ReFS volume\?\) \(VSS_E_VOLUME_NOT_SUPPORTED\); give only local NTFS or ReFS volumes
PrepareForBackup|aborted|C:|$s C: failed at PrepareForBackup: VSS failed \(VSS_E_UNEXPECTED\)
writer-before|aborted|C:|$s C: failed at the writer check before DoSnapshotSet: VSS writer 'SqlServerWriter' failed at prepare backup: a VSS writer failed \(VSS_E_WRITERERROR_NONRETRYABLE\); restart the service behind it
DoSnapshotSet=0x8004231f|aborted|C:|$s C: failed at DoSnapshotSet: not enough shadow storage on C: \(VSS_E_INSUFFICIENT_STORAGE\); make room with 'vssadmin resize shadowstorage /for=C: /on=C: /maxsize=20%', or free space on C:, then run again[[:space:]]*$
DoSnapshotSet=0x8004231f|aborted|C: D:|$s C: and D: failed at DoSnapshotSet: not enough shadow storage on C: and D: \(VSS_E_INSUFFICIENT_STORAGE\); for each X: of C: and D:, make room with 'vssadmin resize shadowstorage /for=X: /on=X: /maxsize=20%'
DoSnapshotSet=0x8004230f|aborted|C:|$s C: failed at DoSnapshotSet: the shadow copy provider failed \(VSS_E_UNEXPECTED_PROVIDER_ERROR\); the System and Application event logs say why
writer-after|aborted|C:|$s C: failed at the writer check after DoSnapshotSet: VSS writer 'SqlServerWriter' failed at freeze: a VSS writer took too long \(VSS_E_WRITERERROR_TIMEOUT\)
GetSnapshotProperties|aborted|C:|$s C: failed at GetSnapshotProperties: VSS failed \(VSS_E_UNEXPECTED\)
no-device|aborted|C:|^p2v-agent: cannot open disk .*missing\.img: error 2
EOF
# The last case failed after the snapshot was taken: it was deleted.
grep -qx "DeleteSnapshots set=ours snapshots=1" "$vss_log" ||
    { cat "$vss_log" >&2; fail "no-device: the taken snapshot was not deleted"; }
pass "p2v-agent.exe --snapshot against the VSS double: call order, bytes, p2v:done (listening, dial-in), Ctrl-C, 13 failures released"
