#!/bin/bash
# p2v-convert copy -O raw from nbdkit, qemu-nbd and our agent: identical
# output, holes where the source had holes or zeroes, and holes never read.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
requires nbdkit qemu-nbd qemu-img nbdinfo jq

src=$TEST_DIR/disk.img
random_bytes=$(make_source "$src")

# check_copy URI NAME [ARGS...]: copy to NAME.raw and check it.
check_copy() {
    local uri=$1 name=$2; shift 2
    local out=$TEST_DIR/$name.raw
    "$P2V_CONVERT" copy "$uri" -o "$out" -O raw --json "$@" >"$TEST_DIR/$name.json" ||
        fail "$name: copy from $uri failed"
    qemu-img compare -q -f raw -F raw "$src" "$out" || fail "$name: output differs from the source"
    [ ! -e "$out.part" ] || fail "$name: $out.part left behind"
    # Holes stay holes, and zero-filled data becomes holes: the only data
    # left in the output is the random data.
    local data
    data=$(image_data_total "$out" raw)
    [ "$data" -eq "$random_bytes" ] ||
        fail "$name: output has $data bytes of data, the source $random_bytes non-zero bytes"
    # Nothing the server called zero was read.
    local read expected
    read=$(json_field "$TEST_DIR/$name.json" bytes_read)
    expected=$(nbd_data_total "$uri")
    [ "$read" -eq "$expected" ] ||
        fail "$name: read $read bytes, the server reports $expected bytes of data"
    [ "$(json_field "$TEST_DIR/$name.json" virtual_size)" -eq $((64 << 20)) ] ||
        fail "$name: wrong virtual size in the summary"
    pass "$name: identical, $data bytes of data, read $read bytes"
}

port=$(free_port)
start_nbdkit "$port" file "$src"
check_copy "nbd://127.0.0.1:$port/" nbdkit
check_copy "nbd://127.0.0.1:$port/" nbdkit-parallel --connections 4 --requests 8
[ "$(json_field "$TEST_DIR/nbdkit-parallel.json" connections)" -eq 4 ] ||
    fail "nbdkit allows multi-conn, but the copy did not use 4 connections"
check_copy "nbd://127.0.0.1:$port/" nbdkit-serial --connections 1 --requests 1 --threads 1
check_copy "nbd://127.0.0.1:$port/" nbdkit-chunks --chunk-size 65536 --requests 3

# Zero-filled data the server reports as data is read, found zero and
# written as a hole; the summary says so.
zeroes=$(json_field "$TEST_DIR/nbdkit.json" zero_bytes_detected)
[ "$zeroes" -ge $((3 << 20)) ] || fail "only $zeroes zero bytes detected (3 MiB written as zeroes)"

qport=$(free_port)
qemu-nbd -r -t -e 8 -f raw -x disk -b 127.0.0.1 -p "$qport" "$src" >"$TEST_DIR/qemu-nbd.log" 2>&1 &
qemu_pid=$!
stop_qemu_nbd() { kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; }
cleanup stop_qemu_nbd
wait_for_port "$qport"
check_copy "nbd://127.0.0.1:$qport/disk" qemu-nbd --connections 4

aport=$(free_port)
start_agent "$aport" --all-blocks "$src"
check_copy "nbd://127.0.0.1:$aport/disk.img" agent --connections 4 --requests 8
[ "$(json_field "$TEST_DIR/agent.json" connections)" -eq 4 ] ||
    fail "the agent allows multi-conn, but the copy did not use 4 connections"

sock=$TEST_DIR/nbdkit.sock
nbdkit -f --exit-with-parent -r -U "$sock" file "$src" >"$TEST_DIR/nbdkit-unix.log" 2>&1 &
unix_pid=$!
stop_unix() { kill "$unix_pid" 2>/dev/null; wait "$unix_pid" 2>/dev/null; }
cleanup stop_unix
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
check_copy "nbd+unix:///?socket=$sock" unix

# Progress as JSON lines, and the text summary.
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$TEST_DIR/progress.raw" --progress=json \
    >"$TEST_DIR/summary.txt" 2>"$TEST_DIR/progress.jsonl" || fail "copy with --progress=json failed"
jq -e 'has("percent") and has("bytes_done") and has("bytes_total") and has("rate") and has("eta")' \
    "$TEST_DIR/progress.jsonl" >/dev/null || fail "progress lines are not the documented JSON"
[ "$(tail -n1 "$TEST_DIR/progress.jsonl" | jq .percent)" = 100 ] || fail "the last progress line is not 100 %"
grep -q "bytes read" "$TEST_DIR/summary.txt" || fail "no text summary"
# Not a terminal and not asked: no progress at all.
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$TEST_DIR/quiet.img" >/dev/null 2>"$TEST_DIR/quiet.err" ||
    fail "copy to .img failed"
[ ! -s "$TEST_DIR/quiet.err" ] || { cat "$TEST_DIR/quiet.err" >&2; fail "output on stderr without --progress"; }
pass "progress and summary"
