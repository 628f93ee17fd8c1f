#!/usr/bin/env bash
# p2v-live on a host (not PID 1): p2v.dump_settings prints the parsed
# settings (fw_cfg after the command line); serve mode with --disk files
# serves them read-only, and nbdinfo and nbdcopy get exactly their bytes;
# the survey export and the converter's "done" end the run; the text UI
# takes answers from a pipe; bad settings give one clear line.
source "$(dirname "$0")/functions.sh"
requires nbdinfo nbdcopy jq cmp

LIVE=$P2V_BUILD_DIR/p2v-live/p2v-live
"$LIVE" --help | grep -q -- "--settings STRING" || fail "--help does not list --settings"

# dump_settings: every key, defaults filled in, the PSK's key hidden.
"$LIVE" --settings "BOOT_IMAGE=/vmlinuz quiet p2v.mode=dial p2v.server=10.0.2.2 p2v.port=10810 \
p2v.tls=require p2v.tls_psk=convert:00112233 p2v.disks=sda,sdb p2v.auto=1 p2v.dump_settings" \
    >"$TEST_DIR/dump.out" 2>"$TEST_DIR/dump.err" || fail "dump_settings failed"
cat >"$TEST_DIR/dump.expected" <<'EOF'
p2v.mode=dial
p2v.server=10.0.2.2
p2v.port=10810
p2v.connections=4
p2v.tls=require
p2v.tls_psk=convert:(hidden)
p2v.insecure=0
p2v.disks=sda,sdb
p2v.auto=1
p2v.net=dhcp
p2v.ip=
p2v.gateway=
p2v.dns=
p2v.interface=
p2v.after=poweroff
EOF
diff -u "$TEST_DIR/dump.expected" "$TEST_DIR/dump.out" || fail "dump_settings output differs"
[ ! -s "$TEST_DIR/dump.err" ] || { cat "$TEST_DIR/dump.err"; fail "dump_settings printed messages"; }

# The fw_cfg file (under --sysfs) wins over the command line.
fw=$TEST_DIR/sys/firmware/qemu_fw_cfg/by_name/opt/p2v/settings
mkdir -p "$fw"
printf 'p2v.port=10900\np2v.mode=serve p2v.dump_settings p2v.after=wait\n' >"$fw/raw"
"$LIVE" --sysfs "$TEST_DIR/sys" >"$TEST_DIR/fwcfg.out" 2>&1 || fail "dump_settings from fw_cfg failed"
grep -qx "p2v.port=10900" "$TEST_DIR/fwcfg.out" && grep -qx "p2v.mode=serve" "$TEST_DIR/fwcfg.out" &&
    grep -qx "p2v.after=wait" "$TEST_DIR/fwcfg.out" || { cat "$TEST_DIR/fwcfg.out"; fail "fw_cfg settings not used"; }
rm -r "$TEST_DIR/sys"
pass "dump_settings"

# Bad settings: one line naming the key and what it allows, exit 2.
expect_error "p2v.port=70000: expected a TCP port from 1 to 65535" \
    "$LIVE" --settings "p2v.mode=serve p2v.port=70000"
expect_error "p2v.mode=dial needs p2v.server=HOST" "$LIVE" --settings "p2v.mode=dial p2v.auto=1"
"$LIVE" --settings "p2v.colour=blue p2v.dump_settings" >/dev/null 2>"$TEST_DIR/warn" || fail "unknown key is fatal"
grep -q "warning: --settings: unknown setting p2v.colour ignored" "$TEST_DIR/warn" || fail "unknown key not named"
pass "bad settings are named"

# Two disks: random bytes (every block data) and a sparse one.
head -c 6M /dev/urandom >"$TEST_DIR/sda.img"
truncate -s 10M "$TEST_DIR/sdb.img"
printf 'end of sdb' | dd of="$TEST_DIR/sdb.img" bs=1 seek=$((10 * 1048576 - 10)) conv=notrunc status=none
sha_before=$(sha256sum "$TEST_DIR/sda.img" "$TEST_DIR/sdb.img")

port=$(free_port)
"$LIVE" --settings "p2v.mode=serve p2v.auto=1 p2v.after=poweroff" --no-network \
    --listen "127.0.0.1:$port" --disk "$TEST_DIR/sda.img" --disk "$TEST_DIR/sdb.img" \
    >"$TEST_DIR/serve.out" 2>&1 &
pid=$!
stop_live() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
cleanup stop_live
wait_for_port "$port" 30 || { cat "$TEST_DIR/serve.out"; exit 1; }
grep -q "serving 2 disk(s) on 127.0.0.1:$port" "$TEST_DIR/serve.out" || fail "no serving line"

nbdinfo --list --json "nbd://127.0.0.1:$port" >"$TEST_DIR/list.json" || fail "nbdinfo --list failed"
for e in sda.img sdb.img; do
    jq -e --arg e "$e" '.exports[] | select(."export-name" == $e and ."is_read_only" == true)' \
        "$TEST_DIR/list.json" >/dev/null || { cat "$TEST_DIR/list.json"; fail "export $e missing or writable"; }
done
[ "$(nbdinfo --size "nbd://127.0.0.1:$port/sdb.img")" = $((10 * 1048576)) ] || fail "sdb.img has the wrong size"
for e in sda sdb; do
    nbdcopy "nbd://127.0.0.1:$port/$e.img" "$TEST_DIR/$e.copy" || fail "nbdcopy of $e.img failed"
    cmp "$TEST_DIR/$e.img" "$TEST_DIR/$e.copy" || fail "$e.img served differs from the disk"
done
pass "nbdcopy gets every byte of both disks"

# The survey as an export, then "done": ALL DISKS COPIED, exit 0 (p2v.after=poweroff).
nbdcopy "nbd://127.0.0.1:$port/p2v:survey" "$TEST_DIR/survey.json" || fail "no p2v:survey export"
[ "$(jq -r '[.disks[].name] | join(",")' "$TEST_DIR/survey.json")" = "sda.img,sdb.img" ] ||
    fail "the survey does not list the two disks"
nbdinfo "nbd://127.0.0.1:$port/p2v:done" >/dev/null 2>&1 || true
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
status=0
wait "$pid" || status=$?
[ "$status" = 0 ] || { cat "$TEST_DIR/serve.out"; fail "p2v-live ended with $status after p2v:done"; }
grep -q '^##  ALL DISKS COPIED' "$TEST_DIR/serve.out" || { cat "$TEST_DIR/serve.out"; fail "no ALL DISKS COPIED"; }
grep -Eq '^  sda\.img +6\.0 MiB of +6\.0 MiB sent \(100%\)' "$TEST_DIR/serve.out" ||
    { cat "$TEST_DIR/serve.out"; fail "no progress line for sda.img"; }
[ "$(sha256sum "$TEST_DIR/sda.img" "$TEST_DIR/sdb.img")" = "$sha_before" ] || fail "a source disk changed"
pass "survey export, progress, and the end on p2v:done"

# The questions on the console, answered through a pipe: serve, default
# port, TLS off, clear text not allowed (loopback needs none), no network.
port=$(free_port)
printf 'serve\n\noff\n0\nnone\n' | "$LIVE" --sysfs "$TEST_DIR" --no-network --listen "127.0.0.1:$port" \
    --disk "$TEST_DIR/sda.img" >"$TEST_DIR/ui.out" 2>&1 &
pid=$!
wait_for_port "$port" 30 || { cat "$TEST_DIR/ui.out"; exit 1; }
grep -q "Mode: serve" "$TEST_DIR/ui.out" && grep -q "Port \[10809\]: " "$TEST_DIR/ui.out" &&
    grep -q "a trusted network only)? 1 or 0 \[0\]: " "$TEST_DIR/ui.out" ||
    { cat "$TEST_DIR/ui.out"; fail "the questions were not asked"; }
[ "$(nbdinfo --size "nbd://127.0.0.1:$port/sda.img")" = $((6 * 1048576)) ] || fail "UI-started server is wrong"
stop_live
pass "the text UI works from a pipe"

# TLS with a pre-shared key from the settings: nbds with the key works,
# plain NBD is refused.
key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "convert:$key" >"$TEST_DIR/keys.psk"
port=$(free_port)
"$LIVE" --settings "p2v.mode=serve p2v.tls=require p2v.tls_psk=convert:$key" --no-network \
    --listen "127.0.0.1:$port" --disk "$TEST_DIR/sda.img" >"$TEST_DIR/tls.out" 2>&1 &
pid=$!
wait_for_port "$port" 30 || { cat "$TEST_DIR/tls.out"; exit 1; }
grep -q "(TLS required)" "$TEST_DIR/tls.out" || fail "no TLS in the serving line"
nbdcopy "nbds://convert@127.0.0.1:$port/sda.img?tls-psk-file=$TEST_DIR/keys.psk" "$TEST_DIR/tls.copy" ||
    fail "nbdcopy over TLS failed"
cmp "$TEST_DIR/sda.img" "$TEST_DIR/tls.copy" || fail "the copy over TLS differs"
if nbdinfo --size "nbd://127.0.0.1:$port/sda.img" >/dev/null 2>&1; then
    fail "plain NBD was allowed with p2v.tls=require"
fi
stop_live
pass "p2v.tls=require with p2v.tls_psk"

# Dial mode: a stand-in converter (libnbd over sockets it accepted) reads
# sda.img from the first connection and opens p2v:done on the next;
# p2v-live then ends with status 0 (p2v.after=poweroff).
"$PYTHON" -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"
port=$(free_port)
"$PYTHON" - "$port" "$TEST_DIR/dial.copy" >"$TEST_DIR/conv.out" 2>&1 <<'PY' &
import nbd, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(4)
ls.settimeout(60)
def session(export):
    conn, _ = ls.accept()
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_socket(conn.detach())
    return h
h = session("sda.img")
size = h.get_size()
with open(out, "wb") as f:
    for off in range(0, size, 1 << 20):
        f.write(h.pread(min(1 << 20, size - off), off))
h.shutdown()
h = session("p2v:done")
h.shutdown()
print("converter done")
PY
conv=$!
sleep 0.5
status=0
timeout 60 "$LIVE" --settings "p2v.mode=dial p2v.server=127.0.0.1 p2v.port=$port p2v.connections=1 p2v.auto=1" \
    --no-network --disk "$TEST_DIR/sda.img" >"$TEST_DIR/dial.out" 2>&1 || status=$?
wait "$conv" || { cat "$TEST_DIR/conv.out"; fail "the stand-in converter failed"; }
[ "$status" = 0 ] || { cat "$TEST_DIR/dial.out"; fail "dial mode ended with $status"; }
cmp "$TEST_DIR/sda.img" "$TEST_DIR/dial.copy" || fail "the disk read over a dialled connection differs"
grep -q "dialling the converter at 127.0.0.1:$port with 1 connection(s)" "$TEST_DIR/dial.out" ||
    { cat "$TEST_DIR/dial.out"; fail "no dialling line"; }
grep -q '^##  ALL DISKS COPIED' "$TEST_DIR/dial.out" || { cat "$TEST_DIR/dial.out"; fail "no ALL DISKS COPIED"; }
pass "dial mode serves the disk to a listening converter and ends on p2v:done"
