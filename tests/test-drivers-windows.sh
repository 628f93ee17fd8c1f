#!/bin/bash
# p2v-drivers list/check --windows on a virtio-win style tree made from the
# real INF files in $P2V_SHARED_DIR/testdata/inf, as a folder, a .zip and an
# ISO; UTF-16LE INF files; blockers and error cases.
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires zip genisoimage iconv

DRV=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
INF=$P2V_SHARED_DIR/testdata/inf
[ -x "$DRV" ] || fail "$DRV not built"
[ -d "$INF" ] || skip "no test INF files in $INF"

# stamp IN OUT: what the vendor's build does to an .inx template.
stamp() {
    sed -e 's/\$ARCH\$/amd64/g' -e 's/_INX_SUBSYS_VENDOR_ID/1AF4/g' \
        -e 's/INX_PLATFORM_DRIVERS_DIR/12/g' -e 's/INX_COMPANY/Red Hat, Inc./g' \
        -e 's/INX_PREFIX_VENDOR//g' "$1" >"$2"
}
# utf16 IN OUT: UTF-16LE with a BOM, CRLF, as stampinf writes them.
utf16() {
    { printf '\xff\xfe'; sed 's/$/\r/' "$1" | iconv -f UTF-8 -t UTF-16LE; } >"$2"
}

T=$TEST_DIR/tree
for d in viostor vioscsi; do
    mkdir -p "$T/$d/2k19/amd64" "$T/$d/w10/amd64"
    stamp "$INF/$d.inx" "$T/$d/2k19/amd64/$d.inf"
    cp "$T/$d/2k19/amd64/$d.inf" "$T/$d/w10/amd64/$d.inf"
    for os in 2k19 w10; do
        echo "stand-in $d.sys" >"$T/$d/$os/amd64/$d.sys"
        echo "stand-in $d.cat" >"$T/$d/$os/amd64/$d.cat"
    done
done
# A template left as it is ($ARCH$ and unknown %tokens%) still parses.
mkdir -p "$T/Balloon/2k19/amd64"
cp "$INF/balloon.inx" "$T/Balloon/2k19/amd64/balloon.inf"
# fwcfg and pvpanic as UTF-16LE (the shared copies are plain ASCII).
for d in fwcfg pvpanic; do
    mkdir -p "$T/$d/2k19/amd64"
    utf16 "$INF/$d.inf" "$T/$d/2k19/amd64/$d.inf"
    echo "stand-in $d.sys" >"$T/$d/2k19/amd64/$d.sys"
done
[ "$(head -c 2 "$T/fwcfg/2k19/amd64/fwcfg.inf" | od -An -tx1 | tr -d " ")" = fffe ] || fail "fwcfg.inf has no UTF-16LE BOM"
# Not in the virtio-win layout: listed for any OS.
mkdir -p "$T/extra"
cp "$INF/qemupciserial.inf" "$T/extra/"

# --- list on the folder ---
"$DRV" list --windows "$T" --os 2k19 --arch amd64 >"$TEST_DIR/list" || fail "list failed"
for dev in 1001 1042; do
    grep -E "^PCI\\\\VEN_1AF4&DEV_$dev .* viostor +0 +SCSI miniport .*viostor/2k19/amd64/viostor.inf" \
        "$TEST_DIR/list" >/dev/null || { cat "$TEST_DIR/list"; fail "viostor DEV_$dev not listed"; }
done
for dev in 1004 1048; do
    grep -E "^PCI\\\\VEN_1AF4&DEV_$dev .* vioscsi +0 +SCSI miniport .*vioscsi/2k19/amd64/vioscsi.inf" \
        "$TEST_DIR/list" >/dev/null || { cat "$TEST_DIR/list"; fail "vioscsi DEV_$dev not listed"; }
done
grep -q 'ACPI\\QEMU0002 .* FwCfg ' "$TEST_DIR/list" || fail "UTF-16 fwcfg.inf not parsed"
grep -q 'PCI\\VEN_1B36&DEV_0011&SUBSYS_11001AF4&REV_01 .* PVPanic ' "$TEST_DIR/list" \
    || fail "UTF-16 pvpanic.inf not parsed"
grep -q 'PCI\\VEN_1B36&DEV_0002 ' "$TEST_DIR/list" || fail "qemupciserial.inf (NTAMD64) not listed"
grep -q 'PCI\\VEN_1AF4&DEV_1002&SUBSYS_0005_INX_SUBSYS_VENDOR_ID&REV_00 .*BALLOON' "$TEST_DIR/list" \
    || fail "balloon template not listed"
grep -q 'w10/amd64' "$TEST_DIR/list" && fail "--os 2k19 listed a w10 folder"
pass "list --windows on a folder"

# Cross-check with python: the hardware IDs of every model line in the
# UTF-16 fwcfg/pvpanic and the stamped viostor, read with codecs.
"$DRV" list --windows "$T" --os 2k19 --arch amd64 --json >"$TEST_DIR/list.json"
"$PYTHON" - "$T" "$TEST_DIR/list.json" <<'EOF' || fail "python cross-check"
import codecs, json, re, sys
tree, listing = sys.argv[1], json.load(open(sys.argv[2]))
for rel in ("fwcfg/2k19/amd64/fwcfg.inf", "pvpanic/2k19/amd64/pvpanic.inf",
            "viostor/2k19/amd64/viostor.inf", "vioscsi/2k19/amd64/vioscsi.inf"):
    raw = open(f"{tree}/{rel}", "rb").read()
    text = raw.decode("utf-16") if raw[:2] == codecs.BOM_UTF16_LE else raw.decode("ascii")
    ids = set()
    for m in re.finditer(r"^[^;\[\n]*=\s*[^,\n]+,([^;\n]*)", text, re.M):
        for f in m.group(1).split(","):
            f = f.strip().upper()
            if f.startswith(("PCI\\", "ACPI\\")):
                ids.add(f)
    pkg = [p for p in listing["packages"] if p["inf"] == rel]
    assert len(pkg) == 1, rel
    ours = set()
    for mdl in pkg[0]["models"]:
        ours.add(mdl["hardware_id"]); ours.update(mdl["compatible_ids"])
    assert ids == ours, (rel, ids, ours)
    assert pkg[0]["files_present"], rel
vs = [p for p in listing["packages"] if p["inf"] == "viostor/2k19/amd64/viostor.inf"][0]
assert vs["class_guid"] == "{4D36E97B-E325-11CE-BFC1-08002BE10318}"
assert vs["models"][0]["start_type"] == 0 and vs["models"][0]["service"] == "viostor"
assert vs["models"][0]["files"] == ["viostor.sys"]
assert vs["virtio_win"] == {"driver": "viostor", "os": "2k19", "arch": "amd64"}
EOF
pass "python agrees on the hardware IDs"

# --- the same from a .zip and an ISO ---
(cd "$T" && zip -qr "$TEST_DIR/drivers.zip" .)
genisoimage -quiet -J -R -o "$TEST_DIR/drivers.iso" "$T" 2>/dev/null
for src in "$TEST_DIR/drivers.zip" "$TEST_DIR/drivers.iso"; do
    "$DRV" list --windows "$src" --os 2k19 --arch amd64 >"$TEST_DIR/list2" || fail "list $src"
    diff <(sed 1d "$TEST_DIR/list" | sort) <(sed 1d "$TEST_DIR/list2" | sort) \
        || fail "list of $src differs from the folder's"
done
pass "list --windows on a .zip and an ISO"

# --- check ---
survey() {   # survey FILE (vendor device subvendor subdevice class)...
    local out=$1; shift
    {
        echo '{ "schema_version": 1, "hostname": "w", "os": { "family": "windows", "id": null,'
        echo '  "name": null, "version": null, "kernel": null, "arch": null },'
        echo '  "firmware": "bios", "secure_boot": null,'
        echo '  "cpus": { "model": null, "sockets": 1, "cores": 1, "threads": 1 },'
        echo '  "memory_bytes": 1073741824, "disks": [], "nics": [], "pci_devices": ['
        local n=3 sep=""
        while [ $# -gt 0 ]; do
            printf '%s{ "slot": "0000:00:%02x.0", "class_code": "%s", "class_name": null,' "$sep" $n "$5"
            printf ' "vendor_id": "%s", "device_id": "%s", "subsystem_vendor_id": "%s",' "$1" "$2" "$3"
            printf ' "subsystem_device_id": "%s", "vendor_name": null, "device_name": null, "driver": null }\n' "$4"
            shift 5; n=$((n + 1)); sep=","
        done
        echo '] }'
    } >"$out"
}
survey "$TEST_DIR/ok.json" 1af4 1001 1af4 0002 010000  1af4 1042 1af4 1100 010000 \
    1af4 1004 1af4 0008 010000  8086 100e 8086 001e 020000
"$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os 2k19 --arch amd64 \
    >"$TEST_DIR/check" || { cat "$TEST_DIR/check"; fail "check with viostor failed"; }
grep -Eq '0000:00:03.0 +storage +1af4:1001 +viostor/2k19/amd64/viostor.inf +viostor \(start 0, SCSI miniport\)' \
    "$TEST_DIR/check" || { cat "$TEST_DIR/check"; fail "1af4:1001 not driven by viostor"; }
grep -Eq '1af4:1042 +viostor/2k19/amd64/viostor.inf' "$TEST_DIR/check" || fail "1af4:1042"
grep -Eq '1af4:1004 +vioscsi/2k19/amd64/vioscsi.inf' "$TEST_DIR/check" || fail "1af4:1004"
grep -Eq '8086:100e +none +none$' "$TEST_DIR/check" || fail "e1000 should have no package"
# Same from the ISO, the spelling "2019"/"x64", and JSON.
"$DRV" check --windows "$TEST_DIR/drivers.iso" --devices "$TEST_DIR/ok.json" --os 2019 --arch x64 \
    --json >"$TEST_DIR/check.json" || fail "check --json from the ISO"
"$PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))
d = j["devices"][0]
assert (d["inf"], d["service"], d["start_type"], d["blocker"]) == \
    ("viostor/2k19/amd64/viostor.inf", "viostor", 0, False), d
assert d["matched_id"] == "PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00", d
assert j["blockers"] == 0 and j["os"] == "2k19"' "$TEST_DIR/check.json" || fail "check --json"
# Windows 10 takes the w10 folder; Server 2022 falls back to the older 2k19.
"$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os win10 --arch amd64 \
    | grep -q 'viostor/w10/amd64/viostor.inf' || fail "--os win10 did not pick the w10 folder"
"$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os 2k22 --arch amd64 \
    | grep -q 'viostor/2k19/amd64/viostor.inf' || fail "--os 2k22 did not fall back to 2k19"
pass "check --windows finds viostor/vioscsi"

# A storage controller nobody drives (LSI MegaRAID SAS 1078): exit 3 (blockers) naming it.
survey "$TEST_DIR/bad.json" 1af4 1001 1af4 0002 010000  1000 005b 1000 9261 010400
status=0
"$DRV" check --windows "$T" --devices "$TEST_DIR/bad.json" --os 2k19 --arch amd64 \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
[ "$status" -eq 3 ] || fail "expected exit 3 for 1000:005b, got $status"
[ "$(wc -l <"$TEST_DIR/err")" -eq 1 ] || { cat "$TEST_DIR/err"; fail "one blocker line expected"; }
grep -q 'blocker: storage controller 0000:00:04.0 (1000:005b) has no driver for 2k19 amd64.*PCI\\VEN_1000&DEV_005B' \
    "$TEST_DIR/err" || { cat "$TEST_DIR/err"; fail "blocker line does not name 1000:005b"; }
# x86 has no folders in the tree at all: viostor is a blocker too.
status=0
"$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os 2k19 --arch x86 \
    >/dev/null 2>&1 || status=$?
[ "$status" -eq 3 ] || fail "x86: expected exit 3, got $status"
# The .sys missing beside the INF: a blocker that says so.
cp -r "$T" "$TEST_DIR/nosys"
rm "$TEST_DIR/nosys/viostor/2k19/amd64/viostor.sys"
survey "$TEST_DIR/blk.json" 1af4 1001 1af4 0002 010000
expect_error 'viostor/2k19/amd64/viostor.inf lists it but its viostor.sys is not beside it' \
    "$DRV" check --windows "$TEST_DIR/nosys" --devices "$TEST_DIR/blk.json" --os 2k19 --arch amd64
[ "$(cat "$TEST_DIR/out" | grep -c BLOCKER)" -eq 1 ] || fail "missing .sys not marked BLOCKER"
pass "check --windows blockers"

# --- error cases: one line, non-zero exit ---
echo "not an archive at all" >"$TEST_DIR/garbage.zip"
expect_error 'garbage.zip: not a folder, .zip or ISO image' \
    "$DRV" list --windows "$TEST_DIR/garbage.zip"
head -c $(($(stat -c %s "$TEST_DIR/drivers.zip") / 2)) "$TEST_DIR/drivers.zip" >"$TEST_DIR/truncated.zip"
expect_error 'truncated.zip: (broken archive|not a folder)' "$DRV" list --windows "$TEST_DIR/truncated.zip"
head -c 34816 "$TEST_DIR/drivers.iso" >"$TEST_DIR/truncated.iso"  # just past the volume descriptor
expect_error 'truncated.iso: (broken archive|not a folder, .zip or ISO image|no files in it)' "$DRV" list --windows "$TEST_DIR/truncated.iso"
mkdir "$TEST_DIR/empty"; echo x >"$TEST_DIR/empty/readme.txt"
expect_error 'empty: no INF files found' "$DRV" list --windows "$TEST_DIR/empty"
expect_error 'nonexistent: No such file' "$DRV" list --windows "$TEST_DIR/nonexistent"
expect_error "unknown Windows version 'vista'" \
    "$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os vista --arch amd64
expect_error "unknown architecture 'sparc'" \
    "$DRV" check --windows "$T" --devices "$TEST_DIR/ok.json" --os 2k19 --arch sparc
expect_error 'needs --devices' "$DRV" check --windows "$T" --os 2k19 --arch amd64
expect_error 'nothing.json' \
    "$DRV" check --windows "$T" --devices "$TEST_DIR/nothing.json" --os 2k19 --arch amd64
# A broken INF among good ones is skipped with a warning, not fatal.
printf '[Version\nfoo=bar\n' >"$T/extra/broken.inf"
"$DRV" list --windows "$T" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || fail "a broken INF was fatal"
grep -q "broken.inf: line 1: section name without ']'; skipped" "$TEST_DIR/err" || fail "no warning"
pass "error cases"
