# Helpers for the boot tests of the live image (tests/test-live-*.sh).
# Source after functions.sh.  Every guest runs under TCG (KVM guests hang
# on the build machines), guarded by `timeout`; settings reach p2v-live
# through qemu's fw_cfg (an ISO boot cannot take -append), so the image
# under test is the built one, unchanged.  When a test fails, the tail of
# every guest console it recorded is printed.
requires qemu-system-x86_64 qemu-img timeout flock

P2V_CONVERT=${P2V_CONVERT:-$P2V_BUILD_DIR/converter/p2v-convert}
P2V_DRIVERS=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
# The build tree the images come from: this one, unless P2V_LIVE_BUILD_DIR
# names another (a sanitizer build tests its host tools against the image
# of a normal build: the image has no sanitizer runtime).
LIVE_BUILD_DIR=${P2V_LIVE_BUILD_DIR:-$P2V_BUILD_DIR}
LIVE_ISO_DIR=$LIVE_BUILD_DIR/iso
OVMF_DIR=${OVMF_DIR:-/usr/share/OVMF}
LIVE_MEM=${LIVE_MEM:-1280}
LIVE_PIDS=()

live_stop_all() {
    local pid
    for pid in "${LIVE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${LIVE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# Called from functions.sh's on_exit, whose local "status" (the test's
# exit status) bash's dynamic scoping makes visible here.
live_show_consoles() {
    [ "${status:-1}" -ne 0 ] && [ "${status:-1}" -ne 77 ] || return 0
    local c
    for c in "$TEST_DIR"/*.console; do
        [ -e "$c" ] || continue
        echo "---- last 60 lines of the guest console $(basename "$c") ----" >&2
        tail -n 60 "$c" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' >&2
    done
    for c in "$TEST_DIR"/*.log; do
        [ -e "$c" ] || continue
        echo "---- last 20 lines of $(basename "$c") ----" >&2
        tail -n 20 "$c" >&2
    done
}
cleanup live_show_consoles
cleanup live_stop_all

# live_iso_stale ISO: ISO is missing, or older than what goes into it.  A
# stamp beside it, not its own time: the build gives the image fixed dates.
live_iso_stale() {
    local stamp=$1.tested-stamp f
    [ -s "$1" ] && [ -e "$stamp" ] || return 0
    for f in "$LIVE_BUILD_DIR/p2v-live/p2v-live" "$LIVE_BUILD_DIR/drivers-inject/p2v-drivers" \
             "$P2V_SOURCE_DIR/iso/build-iso" "$P2V_SOURCE_DIR/iso/init"; do
        [ ! "$f" -nt "$stamp" ] || return 0
    done
    return 1
}

# live_iso: the built image BUILD/iso/p2v-live.iso (or $P2V_LIVE_ISO),
# built once, under a lock so parallel tests share one build, when it is
# missing or older than p2v-live, p2v-drivers or the build script.
live_iso() {
    local iso=${P2V_LIVE_ISO:-$LIVE_ISO_DIR/p2v-live.iso}
    mkdir -p "$LIVE_ISO_DIR"
    (
        flock 9
        if [ -z "${P2V_LIVE_ISO:-}" ] && live_iso_stale "$iso"; then
            echo "live_iso: building $iso (cmake --build $LIVE_BUILD_DIR --target iso)" >&2
            cmake --build "$LIVE_BUILD_DIR" --target iso >"$LIVE_ISO_DIR/build-for-tests.log" 2>&1 ||
                { tail -n 30 "$LIVE_ISO_DIR/build-for-tests.log" >&2; exit 1; }
            touch "$iso.tested-stamp"
        fi
    ) 9>"$LIVE_ISO_DIR/.test-lock" || fail "cannot build the live image (see $LIVE_ISO_DIR/build-for-tests.log)"
    [ -s "$iso" ] || fail "no live image at $iso after building the iso target"
    echo "$iso"
}

# live_iso_without MODULE: an image built by iso/build-iso without MODULE,
# kept beside the main one (BUILD/iso/p2v-live-no-MODULE.iso) for later runs.
live_iso_without() {
    local mod=$1 iso=$LIVE_ISO_DIR/p2v-live-no-$1.iso
    mkdir -p "$LIVE_ISO_DIR"
    (
        flock 9
        if live_iso_stale "$iso"; then
            echo "live_iso_without: building $iso" >&2
            "$P2V_SOURCE_DIR/iso/build-iso" --build-dir "$LIVE_BUILD_DIR" --without-module "$mod" \
                --out "$iso" >"$LIVE_ISO_DIR/build-no-$mod.log" 2>&1 ||
                { tail -n 30 "$LIVE_ISO_DIR/build-no-$mod.log" >&2; exit 1; }
            touch "$iso.tested-stamp"
        fi
    ) 9>"$LIVE_ISO_DIR/.test-lock" || fail "cannot build the live image without $mod"
    [ -s "$iso" ] || fail "iso/build-iso wrote no $iso"
    echo "$iso"
}

# boot_live NAME FIRMWARE SETTINGS SECONDS QEMU_ARGS...: start the guest
# in the background; it is killed after SECONDS.  FIRMWARE is bios (pc),
# uefi (q35, OVMF) or uefi-sb (q35, OVMF with Microsoft's keys enrolled,
# Secure Boot enforced).  SETTINGS go to p2v-live as the fw_cfg file
# opt/p2v/settings.  The guest console (ttyS0) goes to TEST_DIR/NAME.console.
# Tests give p2v.insecure=1: their converter (10.0.2.2, qemu's user network)
# is the host's loopback, but to p2v-live it is a real network.
# Sets LIVE_PID and LIVE_START (seconds since the epoch, when qemu started).
boot_live() {
    local name=$1 fw=$2 settings=$3 seconds=$4; shift 4
    local args=(-accel tcg -m "$LIVE_MEM" -smp 1 -display none -vga none -no-reboot
                -monitor none -serial "file:$TEST_DIR/$name.console")
    case $fw in
        bios) args+=(-machine pc) ;;
        uefi)
            cp "$OVMF_DIR/OVMF_VARS_4M.fd" "$TEST_DIR/$name.vars"
            args+=(-machine q35
                   -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_DIR/OVMF_CODE_4M.fd"
                   -drive "if=pflash,format=raw,unit=1,file=$TEST_DIR/$name.vars") ;;
        uefi-sb)
            cp "$OVMF_DIR/OVMF_VARS_4M.ms.fd" "$TEST_DIR/$name.vars"
            args+=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
                   -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_DIR/OVMF_CODE_4M.ms.fd"
                   -drive "if=pflash,format=raw,unit=1,file=$TEST_DIR/$name.vars") ;;
        *) fail "boot_live: unknown firmware $fw" ;;
    esac
    # qemu's option parser takes ",," for a comma inside a value.
    [ -z "$settings" ] || args+=(-fw_cfg "name=opt/p2v/settings,string=${settings//,/,,}")
    echo "boot_live: $name: $fw, settings \"$settings\", at most ${seconds}s" >&2
    LIVE_START=$(date +%s)
    timeout --kill-after=10 "$seconds" qemu-system-x86_64 "${args[@]}" "$@" \
        >"$TEST_DIR/$name.qemu.log" 2>&1 &
    LIVE_PID=$!
    LIVE_PIDS+=("$LIVE_PID")
}

# wait_exit PID SECONDS WHAT: PID ends within SECONDS; its exit status in
# WAIT_STATUS (124 when it had to be stopped by timeout's kill).
wait_exit() {
    local pid=$1 seconds=$2 what=$3 i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "$what still runs after ${seconds}s"
    fi
    WAIT_STATUS=0
    wait "$pid" || WAIT_STATUS=$?
}

# live_powers_off SECONDS: the guest ends by itself (p2v.auto=1 powers off)
# within SECONDS, not by timeout.
live_powers_off() {
    wait_exit "$LIVE_PID" "$1" "the guest (p2v.auto=1 should power off)"
    [ "$WAIT_STATUS" -eq 0 ] || fail "qemu exited with status $WAIT_STATUS (124: the boot timed out)"
}

# console_wait NAME REGEX SECONDS: until the guest console shows REGEX
# (extended, ANSI colours removed), at most SECONDS after boot_live.  Fails
# early when qemu has already ended.
console_wait() {
    local name=$1 re=$2 seconds=$3
    local console=$TEST_DIR/$name.console
    while :; do
        if [ -e "$console" ] && tr -d '\r' <"$console" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -Eq -e "$re"; then
            return 0
        fi
        [ $(($(date +%s) - LIVE_START)) -lt "$seconds" ] ||
            fail "the guest console shows no /$re/ within ${seconds}s of boot"
        kill -0 "$LIVE_PID" 2>/dev/null ||
            { sleep 0.5; tr -d '\r' <"$console" | grep -Eq -e "$re" && return 0;
              fail "the guest stopped before its console showed /$re/"; }
        sleep 1
    done
}

# start_listener PORT DIR FORMAT: p2v-convert copy --listen 127.0.0.1:PORT
# in the background, waiting for the live image to dial in.  Sets CONV_PID.
start_listener() {
    local port=$1 dir=$2 format=$3
    mkdir -p "$dir"
    "$P2V_CONVERT" copy --listen "127.0.0.1:$port" -O "$format" -o "$dir" \
        >"$TEST_DIR/convert-$port.log" 2>&1 &
    CONV_PID=$!
    LIVE_PIDS+=("$CONV_PID")
    # Its own "listening on" line, not a probe connection: the converter
    # would take a probe for the source dialling in.
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "listening on" "$TEST_DIR/convert-$port.log" && return 0
        kill -0 "$CONV_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$TEST_DIR/convert-$port.log" >&2
    fail "p2v-convert copy --listen does not listen"
}

# converter_done PORT: the listener of start_listener has exited (status in
# WAIT_STATUS, see wait_pid); fail with its log unless it succeeded.
converter_done() {
    [ "$WAIT_STATUS" -eq 0 ] && return 0
    cat "$TEST_DIR/convert-$1.log" >&2
    fail "p2v-convert copy --listen exited with status $WAIT_STATUS"
}

# wait_nbd PORT SECONDS: until an NBD server answers through the forwarded
# port (qemu accepts on the host side before the guest listens).
wait_nbd() {
    local port=$1 seconds=$2 t0
    t0=$(date +%s)
    until nbdinfo --list "nbd://127.0.0.1:$port" >/dev/null 2>&1; do
        [ $(($(date +%s) - t0)) -lt "$seconds" ] || fail "no NBD server on port $port after ${seconds}s"
        kill -0 "$LIVE_PID" 2>/dev/null || fail "the guest stopped before serving"
        sleep 2
    done
}

# ---- source disks and checks ----

# make_random_disk FILE MIB: MIB of random data behind an MBR with one
# partition of an unknown type: nothing for an allocation reader to leave
# out, so the copy must equal the source byte for byte.
make_random_disk() {
    head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1"
    printf 'label: dos\nstart=2048, type=da\n' | sfdisk -q "$1" >/dev/null
}

# make_ext4_disk FILE MIB: GPT with one ext4 partition from 1 MiB to the
# end less 1 MiB, with files in it and the blocks of a deleted file still
# holding data (free space the live image leaves out).
EXT4_START=$((1024 * 1024))
make_ext4_disk() {
    local file=$1 mib=$2 part=$TEST_DIR/ext4-part.img root=$TEST_DIR/ext4-root
    rm -rf "$root"; mkdir -p "$root/etc" "$root/data"
    echo "hello from the live test" >"$root/etc/motd"
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$root/data/keep.bin"
    head -c $(((mib / 3) * 1024 * 1024)) /dev/urandom >"$root/data/garbage.bin"
    dd if=/dev/zero of="$file" bs=1M count="$mib" status=none
    parted -s "$file" mklabel gpt mkpart root ext4 1MiB $((mib - 1))MiB 2>/dev/null
    dd if=/dev/zero of="$part" bs=1M count=$((mib - 2)) status=none
    mkfs.ext4 -q -F -L livetest -d "$root" "$part"
    debugfs -w -R "rm /data/garbage.bin" "$part" 2>/dev/null
    dd if="$part" of="$file" bs=1M seek=1 conv=notrunc status=none
}

# check_ext4_copy SOURCE COPY: COPY (any format qemu-img reads) holds the
# ext4 of make_ext4_disk: the partition tables identical, every used block
# identical (e2image -ra of both sides, plus the backup superblocks and
# descriptors), the
# copy's filesystem clean and its files the same.
check_ext4_copy() {
    local src=$1 copy=$2 w=$TEST_DIR/ext4-check
    rm -rf "$w"; mkdir -p "$w"
    local size=$(stat -c %s "$src")
    qemu-img convert -O raw "$copy" "$w/copy.raw" || fail "qemu-img cannot read $copy"
    [ "$(stat -c %s "$w/copy.raw")" -eq "$size" ] || fail "$copy has another size than $src"
    same_range "$src" "$w/copy.raw" 0 "$EXT4_START" || fail "$copy: the GPT differs"
    same_range "$src" "$w/copy.raw" $((size - EXT4_START)) "$EXT4_START" || fail "$copy: the backup GPT differs"
    local plen=$((size - 2 * EXT4_START))
    dd if="$src" of="$w/src-part.img" bs=1M skip=1 count=$((plen / 1024 / 1024)) status=none
    dd if="$w/copy.raw" of="$w/copy-part.img" bs=1M skip=1 count=$((plen / 1024 / 1024)) status=none
    # The used blocks of each side, free ones zeroed, whether or not the
    # copy got them: e2image -ra (it includes the bitmaps, so the two sides
    # agree on which blocks are used), plus the backup superblocks and
    # group descriptors it leaves out, which are used blocks too.
    local bs side
    bs=$(dumpe2fs -h "$w/src-part.img" 2>/dev/null | awk -F: '/^Block size/ { print $2 + 0 }')
    for side in src copy; do
        e2image -ra "$w/$side-part.img" "$w/$side-used.raw" 2>/dev/null ||
            fail "e2image cannot read the $side ext4"
        dumpe2fs "$w/$side-part.img" 2>/dev/null |
            sed -n 's/.*Backup superblock at \([0-9]*\), Group descriptors at \([0-9]*\)-\([0-9]*\).*/\1 \3/p' |
            while read -r from to; do
                dd if="$w/$side-part.img" of="$w/$side-used.raw" bs="$bs" skip="$from" seek="$from" \
                   count=$((to - from + 1)) conv=notrunc status=none
            done
    done
    cmp "$w/src-used.raw" "$w/copy-used.raw" || fail "$copy: a used ext4 block differs from the source"
    e2fsck -fn "$w/copy-part.img" >/dev/null 2>&1 || fail "$copy: e2fsck finds the ext4 damaged"
    debugfs -R "cat /data/keep.bin" "$w/copy-part.img" 2>/dev/null | cmp -s - "$TEST_DIR/ext4-root/data/keep.bin" ||
        fail "$copy: /data/keep.bin differs"
    debugfs -R "cat /etc/motd" "$w/copy-part.img" 2>/dev/null | cmp -s - "$TEST_DIR/ext4-root/etc/motd" ||
        fail "$copy: /etc/motd differs"
    rm -rf "$w"
}

# same_range A B OFFSET LENGTH
same_range() {
    cmp -s <(tail -c +$(($3 + 1)) "$1" | head -c "$4") <(tail -c +$(($3 + 1)) "$2" | head -c "$4")
}

# output_for SOURCE DIR EXT: the one DIR/*.EXT whose virtual size is SOURCE's
# (the tests give every source disk its own size).
output_for() {
    local src=$1 dir=$2 ext=$3 size f found=
    size=$(stat -c %s "$src")
    for f in "$dir"/*."$ext"; do
        [ -e "$f" ] || continue
        if [ "$(qemu-img info --output=json "$f" | jq '."virtual-size"')" -eq "$size" ]; then
            [ -z "$found" ] || fail "two outputs of $size bytes: $found and $f"
            found=$f
        fi
    done
    [ -n "$found" ] || fail "no output in $dir for $(basename "$src") ($size bytes): $(ls "$dir")"
    echo "$found"
}

# check_survey FILE NDISKS: valid against docs/survey.schema.json and lists
# NDISKS disks (the boot medium is not one of them).
check_survey() {
    local file=$1 n=$2
    [ -s "$file" ] || fail "no survey at $file"
    "$PYTHON" - "$P2V_SOURCE_DIR/docs/survey.schema.json" "$file" <<'PY' || fail "$file does not validate against docs/survey.schema.json"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.Draft202012Validator
errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(json.load(open(sys.argv[2]))))
for e in errors:
    print("%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message), file=sys.stderr)
sys.exit(1 if errors else 0)
PY
    [ "$(jq '.disks | length' "$file")" -eq "$n" ] ||
        fail "the survey lists $(jq '.disks | length' "$file") disks, not $n: $(jq -c '[.disks[].name]' "$file" 2>/dev/null)"
}
