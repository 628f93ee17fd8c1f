# Helpers for tests/test-convert-*.sh.  Source after functions.sh.
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -x "$P2V_CONVERT" ] || fail "$P2V_CONVERT is not built"

# start_nbdkit PORT NBDKIT-ARGS...: a read-only nbdkit on 127.0.0.1:PORT,
# stopped at exit.  Sets NBDKIT_PID.
start_nbdkit() {
    local port=$1; shift
    nbdkit -f --exit-with-parent -r -i 127.0.0.1 -p "$port" "$@" \
        >"$TEST_DIR/nbdkit-$port.log" 2>&1 &
    NBDKIT_PID=$!
    eval "stop_nbdkit_$port() { kill $NBDKIT_PID 2>/dev/null; wait $NBDKIT_PID 2>/dev/null; }"
    cleanup "stop_nbdkit_$port"
    wait_for_port "$port" 20 || { cat "$TEST_DIR/nbdkit-$port.log" >&2; exit 1; }
}

# make_source FILE: a 64 MiB sparse disk with scattered random data
# (some of it not cluster-aligned, some at the very end), a 3 MiB range
# written with zeroes (allocated but zero), and holes.  Prints the number
# of random (non-zero) bytes.
make_source() {
    "$PYTHON" - "$1" <<'PY'
import os, sys
path = sys.argv[1]
size = 64 << 20
extents = [(1 << 20, 2 << 20), (5 << 20, 4096), (5 * 1048576 + 12288, 8192),
           (9 << 20, 300 << 10), (17 << 20, 64 << 10), (40 << 20, 5 << 20),
           (size - 8192, 8192)]
with open(path, "wb") as f:
    f.truncate(size)
    for off, n in extents:
        f.seek(off); f.write(os.urandom(n))
    f.seek(24 << 20); f.write(bytes(3 << 20))      # allocated zeroes
print(sum(n for _, n in extents))
PY
}

# nbd_data_total URI: bytes the server does not report as reading zero
# (nbdinfo --map --totals, types 0 and 1).
nbd_data_total() {
    nbdinfo --map --totals "$1" | awk '($3 == 0 || $3 == 1) { t += $1 } END { print t + 0 }'
}

# image_data_total FILE [FORMAT]: bytes qemu-img map says hold data.
image_data_total() {
    qemu-img map --output=json ${2:+-f "$2"} "$1" |
        jq '[.[] | select(.data == true) | .length] | add // 0'
}

# json_field FILE KEY: one number or string from the --json summary.
json_field() { jq -r ".$2" "$1"; }

# expect_exit CODE PATTERN CMD...: CMD exits with CODE and writes exactly
# one line on stderr, matching PATTERN.
expect_exit() {
    local code=$1 pattern=$2; shift 2
    local status=0
    "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
    [ "$status" -eq "$code" ] || { cat "$TEST_DIR/err" >&2; fail "expected exit $code, got $status from: $*"; }
    local lines
    lines=$(wc -l <"$TEST_DIR/err")
    [ "$lines" -eq 1 ] || { cat "$TEST_DIR/err" >&2; fail "expected one line on stderr from: $* (got $lines)"; }
    grep -Eq -e "$pattern" "$TEST_DIR/err" || { cat "$TEST_DIR/err" >&2; fail "stderr of '$*' does not match /$pattern/"; }
}

# no_output PATH: neither PATH nor PATH.part exists.
no_output() {
    [ ! -e "$1" ] || fail "$1 was left behind"
    [ ! -e "$1.part" ] || fail "$1.part was left behind"
}
