#!/bin/bash
# The #include lines and the libraries each CMakeLists.txt links follow
# the allowed dependencies of tests/layering.txt (docs/hacking.md), and
# the checker (tests/check-layering.py) does refuse a bad one: shown on a
# scratch copy of the tree with deliberately bad includes, never in the
# tree itself.
source "$(dirname "$0")/functions.sh"

check() { "$PYTHON" "$P2V_SOURCE_DIR/tests/check-layering.py" "$@"; }

out=$(check "$P2V_SOURCE_DIR") || { echo "$out" >&2; fail "the tree breaks tests/layering.txt"; }
pass "the tree follows tests/layering.txt"

# A scratch copy: only what the checker reads.
copy=$TEST_DIR/tree
mkdir -p "$copy/tests"
for d in converter common p2v-agent p2v-live drivers-inject; do
    cp -r "$P2V_SOURCE_DIR/$d" "$copy/$d"
done
cp "$P2V_SOURCE_DIR/tests/layering.txt" "$copy/tests/"
check "$copy" >/dev/null || fail "the scratch copy should pass before it is broken"

# expect_refused FILE LINE-TEXT MESSAGE: add LINE-TEXT at the end of FILE
# (in the copy), check that the checker fails naming the file, the line
# and MESSAGE, then put FILE back.
expect_refused() {
    local file=$1 text=$2 message=$3 status=0 out
    cp "$copy/$file" "$TEST_DIR/saved"
    echo "$text" >> "$copy/$file"
    local line
    line=$(wc -l < "$copy/$file")
    out=$(check "$copy") || status=$?
    [ "$status" = 1 ] || fail "$file with $text: checker exit $status, not 1"
    grep -qxF "$file:$line: $message" <<< "$out" ||
        fail "$file with $text: expected '$file:$line: $message', got: $out"
    cp "$TEST_DIR/saved" "$copy/$file"
    pass "refused: $file:$line $text"
}

# An edge against the direction: image (bottom) using run (top).
expect_refused converter/image/raw.c '#include "run/run.h"' \
    '#include "run/run.h": image -> run is not allowed (tests/layering.txt)'
# The agent must not reach the driver catalogs.
expect_refused p2v-agent/serve.c '#include "linux.h"' \
    '#include "linux.h": agent -> catalogs is not allowed (tests/layering.txt)'
# Another module's internal header, even of an allowed dependency.
expect_refused p2v-live/run.c '#include "disk-internal.h"' \
    '#include "disk-internal.h": common/disk/disk-internal.h is internal to disk'
# The flat converter namespace is gone: the folder must be named.
expect_refused converter/copy/engine.c '#include "image.h"' \
    '#include "image.h": no such header in converter/ or common/'
expect_refused converter/vm/ovf.c '#include "vm.h"' \
    '#include "vm.h": name the folder ("vm/vm.h")'

# The build: a link against the direction, and a dependency the table
# gives but nothing links.
expect_cmake_refused() {
    local file=$1 edit=$2 message=$3 status=0 out
    cp "$copy/$file" "$TEST_DIR/saved"
    sed -i "$edit" "$copy/$file"
    cmp -s "$copy/$file" "$TEST_DIR/saved" && fail "$file: the edit '$edit' changed nothing"
    out=$(check "$copy") || status=$?
    [ "$status" = 1 ] || fail "$file after '$edit': checker exit $status, not 1"
    grep -qxF "$file: $message" <<< "$out" ||
        fail "$file after '$edit': expected '$file: $message', got: $out"
    cp "$TEST_DIR/saved" "$copy/$file"
    pass "refused: $file: $message"
}
expect_cmake_refused converter/image/CMakeLists.txt \
    's/PUBLIC p2v-util/PUBLIC p2v-util p2v-run/' \
    'p2v-image links p2v-run: image -> run is not allowed (tests/layering.txt)'
expect_cmake_refused converter/check/CMakeLists.txt 's/PRIVATE p2v-qemu /PRIVATE /' \
    'check does not link qemu, which tests/layering.txt gives it: link it or take it out of the table'
check "$copy" >/dev/null || fail "the scratch copy should pass again once restored"

# A table with a cycle is itself refused.
echo "extra      converter/extra      util" >> "$copy/tests/layering.txt"
sed -i 's|^util       common/util$|util       common/util          extra|' "$copy/tests/layering.txt"
status=0
out=$(check "$copy" 2>&1) || status=$?
[ "$status" = 1 ] && grep -q "dependency cycle" <<< "$out" ||
    fail "a cycle in the table should be refused (exit $status): $out"
pass "a cycle in tests/layering.txt is refused"
