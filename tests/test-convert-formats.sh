#!/bin/bash
# p2v-convert copy into every format, checked by qemu-img: no errors or
# leaks, identical content, the right format and subformat, holes kept.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
requires nbdkit qemu-img jq

src=$TEST_DIR/disk.img
make_source "$src" >/dev/null
port=$(free_port)
start_nbdkit "$port" file "$src"
uri=nbd://127.0.0.1:$port/

# check FORMAT QEMU-FORMAT SUBFORMAT NAME [ARGS...]
check() {
    local format=$1 qformat=$2 subformat=$3 name=$4; shift 4
    local out=$TEST_DIR/$name
    "$P2V_CONVERT" copy "$uri" -O "$format" -o "$out" --json "$@" >"$TEST_DIR/$name.json" ||
        fail "$name: copy failed"
    qemu-img check --output=json -f "$qformat" "$out" >"$TEST_DIR/$name.check" ||
        { cat "$TEST_DIR/$name.check" >&2; fail "$name: qemu-img check failed"; }
    jq -e '(."check-errors" // 0) == 0 and (.leaks // 0) == 0 and (.corruptions // 0) == 0' \
        "$TEST_DIR/$name.check" >/dev/null || { cat "$TEST_DIR/$name.check" >&2; fail "$name: errors or leaks"; }
    qemu-img compare -q -f raw -F "$qformat" "$src" "$out" || fail "$name: differs from the source"
    qemu-img info --output=json "$out" >"$TEST_DIR/$name.info"
    [ "$(jq -r .format "$TEST_DIR/$name.info")" = "$qformat" ] || fail "$name: not $qformat"
    [ "$(jq -r '."virtual-size"' "$TEST_DIR/$name.info")" -eq $((64 << 20)) ] || fail "$name: wrong size"
    if [ -n "$subformat" ]; then
        jq -e --arg s "$subformat" '."format-specific".data."create-type" == $s' \
            "$TEST_DIR/$name.info" >/dev/null || fail "$name: not $subformat"
    fi
    # Holes: the big hole, the zero-filled 3 MiB at 24 MiB, and the hole
    # at 30-40 MiB hold no data in the output.
    qemu-img map --output=json -f "$qformat" "$out" >"$TEST_DIR/$name.map"
    local leaked
    leaked=$(jq '[.[] | select(.data == true and .start < (40*1048576) and .start + .length > (24*1048576))] | length' \
        "$TEST_DIR/$name.map")
    [ "$leaked" -eq 0 ] || fail "$name: data mapped where the source has holes or zeroes"
    pass "$name"
}

check qcow2 qcow2 "" plain.qcow2
check qcow2 qcow2 "" compressed.qcow2 --compress
qemu-img check -f qcow2 --output=json "$TEST_DIR/compressed.qcow2" |
    jq -e '."compressed-clusters" > 0' >/dev/null || fail "--compress wrote no compressed clusters"
check vmdk vmdk monolithicSparse sparse.vmdk
check vmdk-stream vmdk streamOptimized stream.vmdk
# Several connections and writers, small chunks: order and window rules
# for the streamOptimized writer.
check vmdk-stream vmdk streamOptimized stream-parallel.vmdk --connections 4 --requests 16 --threads 4 --chunk-size 65536
check qcow2 qcow2 "" parallel.qcow2 --connections 4 --requests 16 --threads 4 --chunk-size 65536
# The format follows the extension when -O is not given.
"$P2V_CONVERT" copy "$uri" -o "$TEST_DIR/implied.qcow2" >/dev/null || fail "copy to .qcow2 failed"
[ "$(qemu-img info --output=json "$TEST_DIR/implied.qcow2" | jq -r .format)" = qcow2 ] || fail ".qcow2 is not qcow2"
"$P2V_CONVERT" copy "$uri" -o "$TEST_DIR/implied.vmdk" >/dev/null || fail "copy to .vmdk failed"
[ "$(qemu-img info --output=json "$TEST_DIR/implied.vmdk" | jq -r '."format-specific".data."create-type"')" = monolithicSparse ] ||
    fail ".vmdk is not monolithicSparse"
pass "format from the extension"
# The copy is written as NAME.part and renamed; the VMDK descriptor must
# name the final file in its extent line.
for f in sparse.vmdk stream.vmdk; do
    # Not "head | grep -q": grep quits at the first match, head dies of
    # SIGPIPE and pipefail turns the match into a failure.
    grep -a -q "^RW [0-9]* SPARSE \"$f\"" <(head -c 20480 "$TEST_DIR/$f") ||
        fail "$f: the descriptor does not name $f"
done
pass "descriptors name the final file"
