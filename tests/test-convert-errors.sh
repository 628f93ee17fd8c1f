#!/bin/bash
# p2v-convert copy failures: one line each, the documented exit code, and
# never an OUTPUT (or a leftover OUTPUT.part) that could pass for complete.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
requires nbdkit qemu-nbd qemu-img nbdinfo jq psktool

src=$TEST_DIR/disk.img
make_source "$src" >/dev/null
out=$TEST_DIR/out.raw

# Command line: exit 2.
expect_exit 2 "no command given" "$P2V_CONVERT"
expect_exit 2 "unknown command 'cpy'" "$P2V_CONVERT" cpy
expect_exit 2 "no source given" "$P2V_CONVERT" copy -o "$out"
expect_exit 2 "no output given" "$P2V_CONVERT" copy nbd://127.0.0.1/
expect_exit 2 "unknown format 'qed'" "$P2V_CONVERT" copy nbd://127.0.0.1/ -o "$out" -O qed
expect_exit 2 "cannot tell the format" "$P2V_CONVERT" copy nbd://127.0.0.1/ -o "$TEST_DIR/out.disk"
expect_exit 2 '--connections: "0" is not a number from 1 to 64$' "$P2V_CONVERT" copy nbd://127.0.0.1/ -o "$out" --connections 0
expect_exit 2 '--progress: "fancy" is not one of bar, json, none$' "$P2V_CONVERT" copy nbd://127.0.0.1/ -o "$out" --progress=fancy
expect_exit 2 "unknown option '--bogus'" "$P2V_CONVERT" copy nbd://127.0.0.1/ -o "$out" --bogus
no_output "$out"
pass "command line"

# One spelling for TLS options in every command (nbdkit's): --tls-psk FILE
# and --tls-certificates DIR; run's old --tls-psk-file stays as an alias.
for cmd in "$P2V_AGENT serve" "$P2V_CONVERT copy" "$P2V_CONVERT run"; do
    # shellcheck disable=SC2086
    $cmd --help >"$TEST_DIR/help"
    grep -Eq -- '--tls-psk FILE( |$)' "$TEST_DIR/help" || fail "'${cmd##*/} --help' lacks --tls-psk FILE"
    grep -Eq -- '--tls-certificates DIR( |$)' "$TEST_DIR/help" ||
        fail "'${cmd##*/} --help' lacks --tls-certificates DIR"
    ! grep -Eq -- '^ *--tls-psk-file' "$TEST_DIR/help" || fail "'${cmd##*/} --help' offers --tls-psk-file"
done
for opt in --tls-psk --tls-psk-file; do
    expect_exit 2 "with --source, TLS goes in the URI .*; --tls-psk and --tls-certificates are for --listen" \
        "$P2V_CONVERT" run --source nbd://127.0.0.1/ "$opt" "$TEST_DIR/keys.psk" --out "$TEST_DIR/run" --target kvm
done
expect_exit 2 "refusing to receive disks on 192.0.2.1:10809 in clear text: use --tls-psk FILE" \
    "$P2V_CONVERT" run --listen 192.0.2.1:10809 --out "$TEST_DIR/run" --target kvm
[ ! -e "$TEST_DIR/run" ] || fail "a refused run made its output folder"
pass "TLS options: one spelling, run's --tls-psk-file an alias"

# Unreachable source: exit 3.
dead=$(free_port)
expect_exit 3 "cannot reach source nbd://127.0.0.1:$dead/.*Connection refused" \
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$dead/" -o "$out"
expect_exit 3 "cannot reach source" "$P2V_CONVERT" copy "nbd+unix:///?socket=$TEST_DIR/none.sock" -o "$out"
no_output "$out"
pass "unreachable source"

# Wrong export name: exit 4 (our agent, and qemu-nbd).
aport=$(free_port)
start_agent "$aport" --all-blocks "$src"
expect_exit 4 "no such export" "$P2V_CONVERT" copy "nbd://127.0.0.1:$aport/nope.img" -o "$out"
qport=$(free_port)
qemu-nbd -r -t -f raw -x disk -b 127.0.0.1 -p "$qport" "$src" >"$TEST_DIR/qemu-nbd.log" 2>&1 &
qemu_pid=$!
stop_qemu_nbd() { kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; }
cleanup stop_qemu_nbd
wait_for_port "$qport"
expect_exit 4 "no such export" "$P2V_CONVERT" copy "nbd://127.0.0.1:$qport/other" -o "$out"
no_output "$out"
pass "wrong export name"

# Output exists: exit 6 without --force, and the file is untouched; with
# --force it is replaced.  A leftover .part is refused the same way.
port=$(free_port)
start_nbdkit "$port" file "$src"
echo precious >"$out"
expect_exit 6 "output .*out.raw exists; use --force" "$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$out"
[ "$(cat "$out")" = precious ] || fail "an existing output was changed without --force"
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$out" --force >/dev/null || fail "--force did not replace the output"
qemu-img compare -q -f raw -F raw "$src" "$out" || fail "--force copy differs"
rm "$out"
: >"$out.part"
expect_exit 6 "out.raw.part exists" "$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$out"
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$out" --force >/dev/null || fail "--force did not replace the .part"
[ ! -e "$out.part" ] || fail ".part left after a good copy"
rm "$out"
pass "output exists"

# TLS: a server that requires it, a client without it, or with the wrong
# key: exit 5.  The right key works.
psktool -u alice -p "$TEST_DIR/keys.psk" >/dev/null
echo "alice:0123456789abcdef0123456789abcdef" >"$TEST_DIR/wrong.psk"
tport=$(free_port)
start_nbdkit "$tport" --tls=require --tls-psk="$TEST_DIR/keys.psk" file "$src"
expect_exit 5 "refused a connection without TLS" "$P2V_CONVERT" copy "nbd://127.0.0.1:$tport/" -o "$out"
expect_exit 5 "TLS with .* failed" \
    "$P2V_CONVERT" copy "nbds://alice@127.0.0.1:$tport/?tls-psk-file=$TEST_DIR/wrong.psk" -o "$out"
expect_exit 5 "TLS with .* failed.*bob" \
    "$P2V_CONVERT" copy "nbds://bob@127.0.0.1:$tport/?tls-psk-file=$TEST_DIR/keys.psk" -o "$out"
no_output "$out"
"$P2V_CONVERT" copy "nbds://alice@127.0.0.1:$tport/?tls-psk-file=$TEST_DIR/keys.psk" -o "$out" \
    >/dev/null || fail "copy over TLS-PSK failed"
qemu-img compare -q -f raw -F raw "$src" "$out" || fail "TLS copy differs"
rm "$out"
pass "TLS"

# Source read error: retried, then exit 8 with the offset.
eport=$(free_port)
start_nbdkit "$eport" --filter=error file "$src" error-pread=EIO error-pread-rate=1
expect_exit 8 "source read error at offset [0-9]+ .*attempts: Input/output error" \
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$eport/" -o "$out"
no_output "$out"
pass "read error"

# Stall: reads that take 60 s, a 2 s stall timeout: exit 9 naming the
# request that was waiting.
sport=$(free_port)
start_nbdkit "$sport" --filter=delay file "$src" delay-read=60
start=$(date +%s)
expect_exit 9 "stalled: no progress for 2 s; waiting .* for read of [0-9]+ bytes at offset [0-9]+ on connection [0-9]+" \
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$sport/" -o "$out" --stall-timeout 2
[ $(($(date +%s) - start)) -lt 15 ] || fail "the stall took too long to detect"
no_output "$out"
pass "stall"

# Ctrl-C and SIGTERM during a slow copy: exit 130 / 143, nothing left.
big=$TEST_DIR/big.img
head -c $((16 << 20)) /dev/urandom >"$big"
for sig in INT TERM; do
    # A fresh server each time: nbdkit 1.32's rate filter may abort when
    # a client goes away in the middle of a delayed read.
    rport=$(free_port)
    start_nbdkit "$rport" --filter=rate file "$big" rate=1M
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$rport/" -o "$out" >/dev/null 2>"$TEST_DIR/err" &
    pid=$!
    for _ in $(seq 100); do [ -e "$out.part" ] && break; sleep 0.1; done
    sleep 0.5
    [ -e "$out.part" ] || { cat "$TEST_DIR/err" >&2; fail "no $out.part while copying"; }
    kill -"$sig" "$pid"
    status=0
    wait "$pid" || status=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ "$status" -eq "$want" ] || { cat "$TEST_DIR/err" >&2; fail "SIG$sig: exit $status, expected $want"; }
    [ "$(wc -l <"$TEST_DIR/err")" -eq 1 ] && grep -q "interrupted by SIG$sig" "$TEST_DIR/err" ||
        { cat "$TEST_DIR/err" >&2; fail "SIG$sig: not one 'interrupted' line"; }
    no_output "$out"
done
pass "interrupted"

# Disk full: a 2 MiB tmpfs for 8 MiB of data.  Needs mount(2).  Found
# before writing: exit 10 (more in test-convert-space.sh); found while
# writing (compressed output is only warned about up front): exit 7.
small=$TEST_DIR/small
mkdir "$small"
if mount -t tmpfs -o size=2m p2v-test "$small" 2>/dev/null; then
    umount_small() { umount "$small" 2>/dev/null || true; }
    cleanup umount_small
    expect_exit 10 "not enough space in $small for $small/out.raw: need" \
        "$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$small/out.raw"
    no_output "$small/out.raw"
    status=0
    "$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$small/out.qcow2" --compress \
        >/dev/null 2>"$TEST_DIR/err" || status=$?
    [ "$status" -eq 7 ] || { cat "$TEST_DIR/err" >&2; fail "disk full while writing: exit $status, not 7"; }
    [ "$(grep -vc '^p2v-convert: warning: ' "$TEST_DIR/err")" -eq 1 ] &&
        grep -q "No space left on device" "$TEST_DIR/err" ||
        { cat "$TEST_DIR/err" >&2; fail "disk full while writing: not one 'No space' line"; }
    no_output "$small/out.qcow2"
    [ -z "$(ls -A "$small")" ] || fail "files left on the full disk: $(ls "$small")"
    pass "disk full"
else
    echo "SKIP: disk full: cannot mount a small tmpfs here (needs root and mount rights)"
fi
