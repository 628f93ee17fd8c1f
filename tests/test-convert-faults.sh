#!/bin/bash
# p2v-convert copy from huge, mostly empty disks and from faulty sources:
# no false stall however empty the disk (the idle time never wraps), block
# status errors retried like read errors, and a source that goes away
# named in one plain line (issue 10, items 2, 6 and 7).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
requires nbdkit qemu-img jq ss

# copy_n N NAME URI CHECK: copy URI to $TEST_DIR/NAME.qcow2 N times with a
# short stall timeout; each copy must exit 0 with nothing on stderr and
# pass "CHECK FILE".
copy_n() {
    local n=$1 name=$2 uri=$3 check=$4 i status
    local out=$TEST_DIR/$name.qcow2
    for ((i = 1; i <= n; i++)); do
        rm -f "$out"
        status=0
        "$P2V_CONVERT" copy "$uri" -o "$out" --stall-timeout 2 --progress=none \
            >/dev/null 2>"$TEST_DIR/err" || status=$?
        [ "$status" -eq 0 ] && [ ! -s "$TEST_DIR/err" ] || {
            cat "$TEST_DIR/err" >&2
            fail "$name: copy $i of $n exited $status"
        }
        "$check" "$out" || fail "$name: copy $i of $n differs from the source"
    done
}

# same_as_source FILE: FILE holds what $source_uri serves.  The first
# copy is compared with the source itself (qemu-img compare uses block
# status on both sides: seconds, not a read of every zero), later ones
# with that first copy, which is quicker still.
same_as_source() {
    if [ ! -e "$TEST_DIR/reference.qcow2" ]; then
        qemu-img compare -q -f qcow2 "$1" "$source_uri" || return 1
        cp "$1" "$TEST_DIR/reference.qcow2"
        return 0
    fi
    qemu-img compare -q -f qcow2 -F qcow2 "$1" "$TEST_DIR/reference.qcow2"
}

# 200 GiB with 0.02 % data, 10 copies: no false stall (the old engine's
# idle time wrapped to 18446744074 s), each copy identical to the source.
port=$(free_port)
start_nbdkit "$port" sparse-random size=200G percent=0.02 runlength=1048576 seed=1010
source_uri=nbd://127.0.0.1:$port/
copy_n 10 sparse "$source_uri" same_as_source
pass "200 GiB sparse disk: 10 copies, no stall, all identical"

# 4 TiB of nothing, 10 copies: no false stall, the right size, no data.
empty_4t() {
    local size data
    size=$(qemu-img info --output=json "$1" | jq '.["virtual-size"]')
    data=$(image_data_total "$1" qcow2)
    [ "$size" -eq $((4 << 40)) ] && [ "$data" -eq 0 ] ||
        { echo "virtual size $size, $data bytes of data" >&2; return 1; }
}
port=$(free_port)
start_nbdkit "$port" null size=4T
copy_n 10 null "nbd://127.0.0.1:$port/" empty_4t
pass "4 TiB empty disk: 10 copies, no stall, no data"

# 5 % of block status and of reads fail: every copy retries them and is
# identical.  A 1 GiB disk asks for block status some 32 times a copy, so
# 10 copies see about 16 injected errors (at least 4 are required, which
# misses once in some 10^4 runs); the old engine, which did not retry
# them, failed a copy on each.  A second server without the filter
# gives the same bytes (same seed) for the comparison.
args=(sparse-random size=1G percent=0.5 runlength=262144 seed=66)
port=$(free_port)
start_nbdkit "$port" --filter=error "${args[@]}" error=EIO error-extents-rate=5% error-pread-rate=5%
clean=$(free_port)
start_nbdkit "$clean" "${args[@]}"
source_uri=nbd://127.0.0.1:$clean/
rm -f "$TEST_DIR/reference.qcow2"
copy_n 10 faulty "nbd://127.0.0.1:$port/" same_as_source
injected=$(grep -c "injecting EIO error into extents" "$TEST_DIR/nbdkit-$port.log" || true)
[ "$injected" -ge 4 ] || fail "only $injected block status errors were injected: the test proves nothing"
pass "5 % block status and read errors: 10 copies, all identical"

# A source that goes away mid-copy: every read takes 1 s, the server is
# killed once the copy has connected, long before it could finish.  One
# line naming the source, none of libnbd's state-machine text, exit 8 (a
# source read error, as before), no output left.
head -c $((16 << 20)) /dev/urandom >"$TEST_DIR/dense.img"
port=$(free_port)
start_nbdkit "$port" --filter=delay file "$TEST_DIR/dense.img" delay-read=1
out=$TEST_DIR/lost.qcow2
"$P2V_CONVERT" copy "nbd://127.0.0.1:$port/" -o "$out" --progress=none \
    >/dev/null 2>"$TEST_DIR/lost.err" &
copy_pid=$!
for ((i = 0; i < 100; i++)); do
    [ "$(ss -Htn state established "( sport = :$port )" | wc -l)" -gt 0 ] && break
    sleep 0.05
done
kill -9 "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
status=0
wait "$copy_pid" || status=$?
[ "$status" -eq 8 ] || { cat "$TEST_DIR/lost.err" >&2; fail "lost source: exit $status, not 8"; }
[ "$(wc -l <"$TEST_DIR/lost.err")" -eq 1 ] || { cat "$TEST_DIR/lost.err" >&2; fail "lost source: not one line"; }
grep -q "the source nbd://127.0.0.1:$port/ went away .*check that the source is still running" \
    "$TEST_DIR/lost.err" || { cat "$TEST_DIR/lost.err" >&2; fail "lost source: the line does not say it went away"; }
! grep -qi "invalid state\|handle must be" "$TEST_DIR/lost.err" || fail "lost source: libnbd internals shown"
no_output "$out"
pass "a source that goes away: one line naming it"
