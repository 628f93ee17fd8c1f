#!/bin/bash
# p2v-convert run --target vmware on the Debian 12 guest, the source
# dialling in (p2v-agent serve --connect to run --listen): a
# streamOptimized VMDK, OVF and OVA; the OVA lists with tar (OVF first),
# its disk reads with qemu-img and equals the output VMDK, the manifest's
# SHA-256 sums match the members; --verify=full (qemu-img compare against
# the converted overlay) passes; the agent learns that the copy is done.
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
requires qemu-img guestfish tar jq sha256sum debootstrap

img=$(guest_debian12) || fail "cannot build the Debian guest"
port=$(free_port)
# The agent dials until the converter listens (it retries with back-off).
"$P2V_AGENT" serve --connect "127.0.0.1:$port" "$img" >"$TEST_DIR/agent.log" 2>&1 &
agent_pid=$!
stop_dialer() { kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; }
cleanup stop_dialer
out=$TEST_DIR/out
"$P2V_CONVERT" run --listen "127.0.0.1:$port" --wait 60 --out "$out" --target vmware \
    --name web01 --verify=full 2>"$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "p2v-convert run --target vmware failed"; }
status=0
timeout 30 tail --pid="$agent_pid" -f /dev/null || fail "the agent did not end after the copy"
wait "$agent_pid" || status=$?
[ "$status" -eq 0 ] || { cat "$TEST_DIR/agent.log" >&2; fail "the agent exited $status"; }
pass "dial-in: the agent ended with 0 once the copy was done"
[ -f "$out/web01.ovf" ] && [ -f "$out/web01.ova" ] || fail "no OVF or OVA"
vmdk=$out/$(jq -r '.disks[0].output' "$out/report.json")
qemu-img info --output=json "$vmdk" | jq -e '.format == "vmdk"' >/dev/null || fail "$vmdk is not a VMDK"
jq -e '.verification | length > 0 and all(.passed) and all(.detail | test("^full"))' \
    "$out/report.json" >/dev/null || fail "full verification missing or failed"
pass "vmdk-stream, OVF, OVA written; full verification passed"

tar tf "$out/web01.ova" >"$TEST_DIR/members" || fail "tar cannot list the OVA"
[ "$(head -1 "$TEST_DIR/members")" = web01.ovf ] || fail "the OVF is not the OVA's first member"
grep -qx "$(basename "$vmdk")" "$TEST_DIR/members" || fail "the OVA lacks $(basename "$vmdk")"
mkdir "$TEST_DIR/ova"
tar xf "$out/web01.ova" -C "$TEST_DIR/ova"
qemu-img compare "$TEST_DIR/ova/$(basename "$vmdk")" "$vmdk" >/dev/null ||
    fail "the OVA's disk differs from the output"
pass "OVA: $(tr '\n' ' ' <"$TEST_DIR/members")"

mf=$(ls "$TEST_DIR"/ova/*.mf)
n=0
while read -r line; do
    # SHA256(name)= hex
    name=$(sed -E 's/^SHA256\((.*)\)= *[0-9a-f]+$/\1/' <<<"$line")
    sum=$(sed -E 's/^.*= *([0-9a-f]+)$/\1/' <<<"$line")
    [ "$(sha256sum <"$TEST_DIR/ova/$name" | cut -d' ' -f1)" = "$sum" ] ||
        fail "manifest: wrong SHA-256 for $name"
    n=$((n + 1))
done <"$mf"
[ "$n" -ge 2 ] || fail "manifest lists $n files"
pass "manifest: $n SHA-256 sums correct"
