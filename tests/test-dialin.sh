#!/usr/bin/env bash
# Dial-in (docs/dial-in.md): p2v-agent serve --connect dials a listening
# p2v-convert copy --listen, which copies every disk it offers and its
# survey.  Two disks (sparse random data; ext4 on GPT with deleted data in
# its free blocks): the first identical to its source (qemu-img compare),
# the second identical in every used block (e2image -ra is the oracle),
# the survey valid against docs/survey.schema.json; converter first, agent
# first (it retries and says so once), TLS with a pre-shared key, and the
# refusals (no TLS key, nobody dialled, X.509).
# labels: disk
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/disk-helpers.sh"
requires parted mkfs.ext4 debugfs dumpe2fs e2image e2fsck qemu-img psktool
"$PYTHON" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed"
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -x "$P2V_AGENT" ] && [ -x "$P2V_CONVERT" ] || skip "p2v-agent or p2v-convert is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))

# Disk one: random data with holes (a sparse file), so every byte is known.
head -c $((6 * MiB)) /dev/urandom > sparse.img
truncate -s $((48 * MiB)) sparse.img
head -c $((3 * MiB)) /dev/urandom | dd of=sparse.img bs=1M seek=20 conv=notrunc status=none
head -c $((1 * MiB)) /dev/urandom | dd of=sparse.img bs=1M seek=47 conv=notrunc status=none

# Disk two: ext4 on GPT; a deleted file leaves stale data in free blocks.
P1_START=$((1 * MiB)); P1_END=$((63 * MiB))
make_solid_disk ext4.img 64
parted -s ext4.img mklabel gpt mkpart root ext4 1MiB 63MiB 2>/dev/null
mkdir -p root/data
head -c $((2 * MiB)) /dev/urandom > root/data/keep.bin
head -c $((20 * MiB)) /dev/urandom > root/data/garbage.bin
dd if=/dev/zero of=part1.img bs=1M count=62 status=none
mkfs.ext4 -q -F -L rootfs -d root part1.img
debugfs -w -R "rm /data/garbage.bin" part1.img 2>/dev/null
dd if=part1.img of=ext4.img bs=1M seek=1 conv=notrunc status=none
bs=$(dumpe2fs -h part1.img 2>/dev/null | awk -F: '/^Block size/ { print $2 + 0 }')
e2image -ra part1.img expected-part1.raw 2>/dev/null
dumpe2fs part1.img 2>/dev/null |          # backup superblocks: used, not in e2image's image
    sed -n 's/.*Backup superblock at \([0-9]*\), Group descriptors at \([0-9]*\)-\([0-9]*\).*/\1 \3/p' |
    while read -r from to; do
        dd if=part1.img of=expected-part1.raw bs="$bs" skip="$from" seek="$from" \
           count=$((to - from + 1)) conv=notrunc status=none
    done
sha_before=$(sha256sum sparse.img ext4.img)

# start_converter NAME ARGS...: copy --listen in the background, logs in
# NAME.err/NAME.out, status in NAME.status.  Sets CONV_PID.
start_converter() {
    local name=$1; shift
    ( rc=0; "$P2V_CONVERT" copy "$@" >"$name.out" 2>"$name.err" || rc=$?; echo $rc >"$name.status" ) &
    CONV_PID=$!
    eval "stop_conv_$name() { kill $CONV_PID 2>/dev/null; wait $CONV_PID 2>/dev/null; }"
    cleanup "stop_conv_$name"
}
# listening_port NAME: wait for the "listening on" line, print the port.
listening_port() {
    local i
    for ((i = 0; i < 200; i++)); do
        if grep -q "listening on" "$1.err" 2>/dev/null; then
            sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$1.err"
            return
        fi
        sleep 0.1
    done
    cat "$1.err" >&2
    fail "the converter $1 does not listen"
}
# run_agent NAME ARGS...: p2v-agent serve --connect in the foreground (bounded).
run_agent() {
    local name=$1; shift
    timeout 120 "$P2V_AGENT" serve -v "$@" 2>"$name.err" || { cat "$name.err" >&2; fail "agent $name failed"; }
    grep -q "the converter has everything; done" "$name.err" || fail "agent $name: no 'done' line"
}
converter_ok() {
    wait "$CONV_PID" || true
    [ "$(cat "$1.status")" = 0 ] || { cat "$1.err" >&2; fail "converter $1 exited $(cat "$1.status")"; }
}
check_outputs() {      # DIR EXT: both disks and the survey, complete and right
    local dir=$1 ext=$2
    [ -z "$(find "$dir" -name '*.part')" ] || fail "$dir: .part files left"
    qemu-img compare -q sparse.img "$dir/sparse.img$ext" || fail "$dir: sparse.img differs"
    qemu-img convert -O raw "$dir/ext4.img$ext" "$dir/ext4.raw"
    same_bytes ext4.img "$dir/ext4.raw" 0 $P1_START || fail "$dir: GPT differs"
    same_bytes ext4.img "$dir/ext4.raw" $P1_END $((1 * MiB)) || fail "$dir: backup GPT differs"
    dd if="$dir/ext4.raw" of="$dir/part1.img" bs=1M skip=1 count=62 status=none
    cmp expected-part1.raw <(head -c "$(stat -c %s expected-part1.raw)" "$dir/part1.img") ||
        fail "$dir: ext4 differs from e2image's image of the used blocks"
    e2fsck -fn "$dir/part1.img" >/dev/null 2>&1 || fail "$dir: e2fsck finds the copied ext4 damaged"
    debugfs -R "cat /data/keep.bin" "$dir/part1.img" 2>/dev/null | cmp - root/data/keep.bin ||
        fail "$dir: keep.bin differs"
    "$PYTHON" - "$P2V_SOURCE_DIR/docs/survey.schema.json" "$dir/survey.json" <<'PY' || fail "$dir: survey.json is not valid"
import json, sys, jsonschema
schema, doc = (json.load(open(p)) for p in sys.argv[1:3])
jsonschema.validate(doc, schema)
names = sorted(d["name"] for d in doc["disks"])
assert names == ["ext4.img", "sparse.img"], names
PY
}

# 1. The converter first, then the agent.
start_converter first --listen 127.0.0.1:0 -O qcow2 -o out1 --wait 60
port=$(listening_port first)
grep -q "^p2v-convert: listening on 127.0.0.1:$port; waiting for the source to dial in$" first.err ||
    fail "no listening line"
start=$(date +%s%N)
run_agent agent1 --connect "127.0.0.1:$port" sparse.img ext4.img
converter_ok first
echo "dial-in copy of 2 disks (survey, agent start included): $(( ($(date +%s%N) - start) / 1000000 )) ms"
check_outputs out1 .qcow2
qemu-img check -q out1/sparse.img.qcow2 || fail "qemu-img check"
[ "$(grep -c '^copied ' first.out)" -eq 2 ] || fail "expected two copy summaries"
# The ext4's free blocks (the deleted 20 MiB) were not sent.
served=$(sed -n "s/.*export 'ext4.img': \([0-9]*\) bytes served/\1/p" agent1.err)
[ -n "$served" ] && [ "$served" -lt $((40 * MiB)) ] || fail "ext4.img: $served bytes served"

# 2. The agent first: it cannot reach the converter, says so once, retries.
port=$(free_port)
"$P2V_AGENT" serve -v --connect "127.0.0.1:$port" sparse.img ext4.img 2>agent2.err &
agent_pid=$!
stop_agent2() { kill $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null; }
cleanup stop_agent2
for _ in $(seq 100); do grep -q "cannot reach the converter" agent2.err && break; sleep 0.1; done
sleep 3                                             # a few retries (1 s, 2 s back-off)
start_converter second --listen "127.0.0.1:$port" -O raw -o out2 --wait 60
wait $agent_pid || { cat agent2.err >&2; fail "agent 2 failed"; }
converter_ok second
[ "$(grep -c "cannot reach the converter at 127.0.0.1:$port" agent2.err)" -eq 1 ] ||
    { cat agent2.err >&2; fail "the agent did not say exactly once that it cannot reach the converter"; }
grep -q "reached the converter" agent2.err || fail "no 'reached' line"
grep -q "the converter has everything; done" agent2.err || fail "agent 2: no 'done' line"
check_outputs out2 .raw

# 3. TLS with a pre-shared key on both sides; a converter without the key
#    gets one clear line and exit 5.
psktool -u convert -p keys.psk >/dev/null 2>&1
start_converter tls --listen 127.0.0.1:0 -O vmdk -o out3 --wait 60 --tls-psk keys.psk
port=$(listening_port tls)
run_agent agent3 --connect "127.0.0.1:$port" --tls-psk keys.psk sparse.img ext4.img
converter_ok tls
check_outputs out3 .vmdk

start_converter plain --listen 127.0.0.1:0 -O raw -o out4 --wait 60
port=$(listening_port plain)
"$P2V_AGENT" serve --connect "127.0.0.1:$port" --tls-psk keys.psk sparse.img 2>agent4.err &
agent_pid=$!
wait "$CONV_PID" || true
kill $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null || true
[ "$(cat plain.status)" = 5 ] || { cat plain.err >&2; fail "plain converter against a TLS agent: exit $(cat plain.status)"; }
[ "$(grep -vc 'listening on' plain.err)" -eq 1 ] && grep -q "requires TLS" plain.err ||
    { cat plain.err >&2; fail "expected one 'requires TLS' line"; }
[ -z "$(ls -A out4)" ] || fail "out4 is not empty"

# Nobody dials in: exit 3 after --wait.
rc=0; "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o out5 --wait 1 2>nobody.err || rc=$?
[ "$rc" -eq 3 ] || fail "nobody dialled: exit $rc, not 3"
grep -q "nobody dialled in" nobody.err || fail "no 'nobody dialled in' line"

# X.509 cannot be checked on an accepted socket (docs/dial-in.md): refused.
expect_error "tls-certificates cannot be checked for a source that dials in" \
    "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o out6 --tls-certificates "$TEST_DIR"
rc=0; "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o out6 --tls-certificates . 2>/dev/null || rc=$?
[ "$rc" -eq 5 ] || fail "--listen --tls-certificates: exit $rc, not 5"

[ "$(sha256sum sparse.img ext4.img)" = "$sha_before" ] || fail "a source changed"
pass "dial-in: 2 disks and the survey, converter or agent first, TLS PSK"
