# Helpers for tests/test-run-windows-*.sh.  Source after functions.sh,
# convert-helpers.sh, guest-helpers.sh, run-helpers.sh, windows-guests.sh.

# virtio_win_tree DIR: a virtio-win layout (<driver>/<os>/<arch>/) from the
# vendor's INF templates in $P2V_SHARED_DIR/testdata/inf, stamped as the
# vendor's build does, with stand-in .sys and .cat files, for Windows
# Server 2008 R2 and 2022 (amd64).  No netkvm: the NIC stays emulated.
virtio_win_tree() {
    local t=$1 inf=$P2V_SHARED_DIR/testdata/inf d os
    [ -d "$inf" ] || skip "no test INF files in $inf"
    for d in viostor vioscsi balloon; do
        for os in 2k8R2 2k22; do
            mkdir -p "$t/$d/$os/amd64"
            sed -e 's/\$ARCH\$/amd64/g' -e 's/_INX_SUBSYS_VENDOR_ID/1AF4/g' \
                -e 's/INX_PLATFORM_DRIVERS_DIR/12/g' -e 's/INX_COMPANY/Red Hat, Inc./g' \
                -e 's/INX_PREFIX_VENDOR//g' "$inf/$d.inx" >"$t/$d/$os/amd64/$d.inf"
            echo "stand-in $d.sys for $os" >"$t/$d/$os/amd64/$d.sys"
            echo "stand-in $d.cat" >"$t/$d/$os/amd64/$d.cat"
        done
    done
}

# hive_of IMAGE PARTITION NAME OUT: a hive (SYSTEM, SOFTWARE) of a
# converted disk image.
hive_of() {
    guestfish --ro -a "$1" -m "$2" download "/Windows/System32/config/$3" "$4"
}

# reg_value HIVE KEY NAME: the value as hivexget prints it ("" if absent).
reg_value() { hivexget "$1" "$2" "$3" 2>/dev/null || true; }

# expect_refusal CODE PATTERN DIR RUN-ARGS...: run exits CODE with one
# error line matching PATTERN, and writes only its report into DIR.
expect_refusal() {
    local code=$1 pattern=$2 dir=$3
    shift 3
    expect_run_exit "$code" "$pattern" "$P2V_CONVERT" run --out "$dir" "$@"
    no_disk_outputs "$dir"
    [ "$(report_phase "$dir" copy)" = absent ] || fail "$dir: the copy ran"
}

# refuse VARIANT CODE PATTERN [RUN-ARGS...]: the phony guest VARIANT,
# served by p2v-agent, is refused (expect_refusal) into $TEST_DIR/VARIANT.
refuse() {
    local variant=$1 code=$2 pattern=$3 img port
    shift 3
    img=$(guest_windows "$variant") || fail "no phony guest $variant"
    port=$(free_port)
    start_agent "$port" "$img"
    expect_refusal "$code" "$pattern" "$TEST_DIR/$variant" \
        --source "nbd://127.0.0.1:$port" --target kvm "$@"
    pass "$variant: $(run_errors "$TEST_DIR/err")"
}
