#!/bin/bash
# p2v-convert run --target vmware --keep-disks on the Debian 12 guest, the
# source dialling in (p2v-agent serve --connect to run --listen): a
# streamOptimized VMDK verified in full (qemu-img compare against the
# converted overlay), then packed into the OVA; it lists with tar (OVF
# first), its disk (named without the export's .raw) reads with qemu-img,
# the manifest's SHA-256 sums match the members; the agent learns that the
# copy is done.  With --keep-disks the VMDK and OVF stay beside the OVA
# (and nothing else), which holds the same VMDK byte for byte.  One
# conversion: that without --keep-disks the OVA is left alone (the loose
# disks removed, no OVF written) is unit-test-run-package, on run's own
# metadata and package phases.
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
    --name web01 --verify=full --keep-disks 2>"$TEST_DIR/err" ||
    { cat "$TEST_DIR/err" >&2; fail "p2v-convert run --target vmware failed"; }
echo "phases: $(jq -r '[.phases[] | "\(.phase) \(.seconds | floor) s"] | join(", ")' "$out/report.json")"
status=0
timeout 30 tail --pid="$agent_pid" -f /dev/null || fail "the agent did not end after the copy"
wait "$agent_pid" || status=$?
[ "$status" -eq 0 ] || { cat "$TEST_DIR/agent.log" >&2; fail "the agent exited $status"; }
pass "dial-in: the agent ended with 0 once the copy was done"
# --keep-disks: the OVA, its disk and the OVF, and nothing else.
[ -f "$out/web01.ova" ] || fail "no OVA"
vmdk_name=$(jq -r '.disks[0].output' "$out/report.json")
[ "$vmdk_name" = "web01-$(basename "$img" .raw).vmdk" ] || fail "disk name $vmdk_name kept the export's .raw"
[ -f "$out/web01.ovf" ] && [ -f "$out/$vmdk_name" ] ||
    fail "--keep-disks: not all of web01.ova, web01.ovf and $vmdk_name: $(ls "$out")"
extra=$(cd "$out" && ls -A | grep -v -x -e web01.ova -e web01.ovf -e "$vmdk_name" \
    -e report.json -e report.txt -e .p2v-work || true)
[ -z "$extra" ] || fail "beside the OVA: $extra"
jq -e '.verification | length > 0 and all(.passed) and all(.detail | test("^full"))' \
    "$out/report.json" >/dev/null || fail "full verification missing or failed"
[ "$(report_phase "$out" package)" = ok ] || fail "phase package: $(report_phase "$out" package)"
[ "$(jq -r '.vm_hardware | "\(.disk_bus) \(.nic_model)"' "$out/report.json")" = "pvscsi vmxnet3" ] ||
    fail "report: VM devices are not pvscsi and vmxnet3"
pass "vmdk-stream verified in full, then packed: web01.ova, with web01.ovf and the disk kept"

tar tf "$out/web01.ova" >"$TEST_DIR/members" || fail "tar cannot list the OVA"
[ "$(head -1 "$TEST_DIR/members")" = web01.ovf ] || fail "the OVF is not the OVA's first member"
grep -qx "$vmdk_name" "$TEST_DIR/members" || fail "the OVA lacks $vmdk_name"
mkdir "$TEST_DIR/ova"
tar xf "$out/web01.ova" -C "$TEST_DIR/ova"
vmdk=$TEST_DIR/ova/$vmdk_name
qemu-img info --output=json "$vmdk" | jq -e '.format == "vmdk"' >/dev/null || fail "$vmdk is not a VMDK"
qemu-img check -q "$vmdk" || fail "qemu-img check finds errors in the OVA's disk"
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

cmp "$vmdk" "$out/$vmdk_name" || fail "--keep-disks: the OVA's disk differs from the kept one"
pass "--keep-disks: OVA, OVF and the disk it holds, identical"
