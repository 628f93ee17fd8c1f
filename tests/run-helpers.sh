# Helpers for tests/test-run-*.sh.  Source after functions.sh and
# convert-helpers.sh.
export LIBGUESTFS_BACKEND_SETTINGS=force_tcg   # KVM guests hang on this machine

# run_errors FILE: the error lines of a p2v-convert stderr (not warnings
# or informational lines).
run_errors() { grep -v -e '^p2v-convert: warning: ' "$1" || true; }

# no_disk_outputs DIR: only the report (and nothing else) was written.
no_disk_outputs() {
    local extra
    extra=$(cd "$1" && ls -A | grep -v -x -e report.json -e report.txt || true)
    [ -z "$extra" ] || fail "$1 holds more than the report: $extra"
}

# report_phase DIR PHASE: "ok", "failed" or "absent".
report_phase() {
    jq -r --arg p "$2" '[.phases[] | select(.phase == $p)] |
        if length == 0 then "absent" elif .[0].ok then "ok" else "failed" end' "$1/report.json"
}

# same_as_overlay OUTPUT OVERLAY URI: OUTPUT equals the converted OVERLAY
# read over URI (the source as served: the agent serves free filesystem
# space as zeroes, which the image file may not hold).  The overlay is
# re-pointed (qemu-img rebase -u) on a copy.
same_as_overlay() {
    cp "$2" "$TEST_DIR/overlay-check.qcow2"
    qemu-img rebase -u -F raw -b "$3" "$TEST_DIR/overlay-check.qcow2"
    qemu-img compare "$1" "$TEST_DIR/overlay-check.qcow2"
}

# expect_run_exit CODE PATTERN CMD...: CMD exits with CODE and writes
# exactly one error line (warnings aside) on stderr, matching PATTERN.
expect_run_exit() {
    local code=$1 pattern=$2 status=0
    shift 2
    "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
    [ "$status" -eq "$code" ] || { cat "$TEST_DIR/err" >&2; fail "expected exit $code, got $status from: $*"; }
    [ "$(run_errors "$TEST_DIR/err" | wc -l)" -eq 1 ] ||
        { cat "$TEST_DIR/err" >&2; fail "expected one error line from: $*"; }
    run_errors "$TEST_DIR/err" | grep -Eq -e "$pattern" ||
        { cat "$TEST_DIR/err" >&2; fail "stderr of '$*' does not match /$pattern/"; }
}
