#!/usr/bin/env bash
# p2v-drivers check/add/list against a real Debian kernel package: an
# initramfs without e1000e and megaraid_sas fails check with both named;
# add from the .deb fixes it; kmod's modinfo agrees with our catalog.
# labels: slow
source "$(dirname "$0")/functions.sh"
PATH=$PATH:/usr/sbin:/sbin   # kmod's tools
requires cpio gzip modinfo modprobe depmod apt-get apt-cache dpkg-deb jq

DRV=$P2V_BUILD_DIR/drivers-inject/p2v-drivers
CACHE=/var/tmp/p2v-test-cache
mkdir -p "$CACHE"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[ -n "$pkg" ] || skip "apt-cache does not know linux-image-amd64"
deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
    (cd "$CACHE" && apt-get download "$pkg" >/dev/null 2>&1) || skip "apt-get download $pkg failed"
    deb=$(ls "$CACHE/${pkg}"_*.deb | head -1)
fi
kver=${pkg#linux-image-}

# A small initramfs: a few virtio and AHCI modules, no e1000e or megaraid_sas.
root=$TEST_DIR/root
mkdir -p "$root"
dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$root" --wildcards '*/ahci.ko*' '*/libahci.ko*' '*/libata.ko*' \
        '*/scsi_mod.ko*' '*/scsi_common.ko*' \
        '*/virtio_blk.ko*' '*/virtio_net.ko*' '*/virtio_pci.ko*' '*/net_failover.ko*' '*/failover.ko*' \
        '*/virtio.ko*' '*/virtio_ring.ko*' '*/virtio_pci_modern_dev.ko*' '*/virtio_pci_legacy_dev.ko*'
[ -d "$root/lib/modules/$kver" ] || fail "no lib/modules/$kver in $deb"
# Like a real image: indexes that know nothing of the modules add brings.
depmod -b "$root" "$kver" || fail "depmod on the small image failed"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$TEST_DIR/initrd.img"

# lspci -nn text and a survey with the same devices.
cat >"$TEST_DIR/lspci.txt" <<'LSPCI'
00:00.0 Host bridge [0600]: Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller [8086:29c0]
00:19.0 Ethernet controller [0200]: Intel Corporation 82574L Gigabit Network Connection [8086:10d3]
00:1f.2 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [8086:2922] (rev 02) (prog-if 01 [AHCI 1.0])
01:00.0 RAID bus controller [0104]: Broadcom / LSI MegaRAID SAS 2208 [Thunderbolt] [1000:005b] (rev 05)
00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio network device [1af4:1000]
LSPCI
"$PYTHON" - "$TEST_DIR/lspci.txt" "$P2V_SOURCE_DIR/tests/fuzz/seeds/fuzz-survey-json/complete.json" \
    >"$TEST_DIR/survey.json" <<'PY'
import json, re, sys
survey = json.load(open(sys.argv[2]))
devs = []
for line in open(sys.argv[1]):
    slot = line.split()[0]
    cls = re.search(r'\[([0-9a-f]{4})\]:', line).group(1)
    v, d = re.findall(r'\[([0-9a-f]{4}):([0-9a-f]{4})\]', line)[-1]
    devs.append({"slot": "0000:" + slot, "class_code": cls + ("01" if cls == "0106" else "00"),
                 "class_name": None, "vendor_id": v, "device_id": d,
                 "subsystem_vendor_id": None, "subsystem_device_id": None,
                 "vendor_name": None, "device_name": None, "driver": None})
survey["pci_devices"] = devs
print(json.dumps(survey))
PY

# check: exit 3 (blockers), both missing drivers named with the package to add.
status=0
"$DRV" check --image "$TEST_DIR/initrd.img" --devices "$TEST_DIR/lspci.txt" \
    --catalog "$deb" >"$TEST_DIR/check.out" 2>"$TEST_DIR/check.err" || status=$?
cat "$TEST_DIR/check.out" "$TEST_DIR/check.err"
[ "$status" -eq 3 ] || fail "check should exit 3, not $status"
grep -q "0000:00:19.0 network controller 8086:10d3: add module e1000e (package $pkg)" "$TEST_DIR/check.err" ||
    fail "check does not name e1000e"
grep -q "1000:005b: add module megaraid_sas (package $pkg)" "$TEST_DIR/check.err" ||
    fail "check does not name megaraid_sas"
grep -Eq '^0000:00:1f.2 +storage +8086:2922 ahci +yes' "$TEST_DIR/check.out" || fail "ahci not found in the image"
pass "check names the missing drivers"

# The survey gives the same verdict, as JSON.
status=0
"$DRV" check --image "$TEST_DIR/initrd.img" --devices "$TEST_DIR/survey.json" --json \
    >"$TEST_DIR/check.json" 2>/dev/null || status=$?
[ "$status" -eq 3 ] || fail "check with a survey should exit 3, not $status"
[ "$(jq -r '[.devices[] | select(.blocker)] | length' "$TEST_DIR/check.json")" = 2 ] ||
    fail "check --json does not list two blockers"

# add from the .deb, then check passes.
"$DRV" add --image "$TEST_DIR/initrd.img" --from "$deb" --devices "$TEST_DIR/survey.json" \
    --out "$TEST_DIR/new.img"
"$DRV" check --image "$TEST_DIR/new.img" --devices "$TEST_DIR/lspci.txt" ||
    fail "check fails after add"
pass "add makes check pass"

# What the kernel would unpack: both archives, e1000e and megaraid_sas with deps.
mkdir "$TEST_DIR/x"
(cd "$TEST_DIR/x" && { gzip -dc "$TEST_DIR/new.img" 2>/dev/null || true; } | cpio -i -d --quiet 2>/dev/null || true)
skip_bytes=$(stat -c %s "$TEST_DIR/initrd.img")
skip_bytes=$(( (skip_bytes + 3) / 4 * 4 ))   # add pads the old image to 4 bytes
(cd "$TEST_DIR/x" && tail -c +$((skip_bytes + 1)) "$TEST_DIR/new.img" | cpio -i -d -u --quiet)
find "$TEST_DIR/x" -name 'e1000e.ko*' | grep -q . || fail "e1000e.ko not in the new image"
find "$TEST_DIR/x" -name 'megaraid_sas.ko*' | grep -q . || fail "megaraid_sas.ko not in the new image"
for dep in $(modinfo -F depends "$(find "$TEST_DIR/x" -name 'e1000e.ko*')" | tr , ' '); do
    find "$TEST_DIR/x" -name "$dep.ko*" | grep -q . || fail "dependency $dep of e1000e missing"
done
grep -q "/e1000e.ko:" "$TEST_DIR/x/lib/modules/$kver/modules.dep" || fail "modules.dep lacks e1000e"
grep -q "/megaraid_sas.ko:.*/scsi_mod.ko" "$TEST_DIR/x/lib/modules/$kver/modules.dep" ||
    fail "modules.dep lacks megaraid_sas's dependency on scsi_mod"
grep -q "^alias pci:v00008086d000010D3sv\*sd\*bc\*sc\*i\* e1000e$" "$TEST_DIR/x/lib/modules/$kver/modules.alias" ||
    fail "modules.alias lacks e1000e"
grep -q " ahci$" "$TEST_DIR/x/lib/modules/$kver/modules.alias" || fail "modules.alias lost ahci"
pass "the new initramfs has the modules and lists"

# kmod reads the binary indexes: modprobe must find the added modules,
# their dependencies and their aliases in what the kernel unpacks.
for bin in dep alias symbols builtin; do
    [ -s "$TEST_DIR/x/lib/modules/$kver/modules.$bin.bin" ] || fail "modules.$bin.bin missing"
done
for mod in e1000e megaraid_sas; do
    modprobe -d "$TEST_DIR/x" -S "$kver" --show-depends "$mod" >"$TEST_DIR/$mod.deps" ||
        fail "modprobe --show-depends $mod fails on the new image"
    cat "$TEST_DIR/$mod.deps"
    grep -q "^insmod $TEST_DIR/x/lib/modules/$kver/.*/$mod\.ko" "$TEST_DIR/$mod.deps" ||
        fail "modprobe does not load $mod from the new image"
done
grep -q "^insmod $TEST_DIR/x/lib/modules/$kver/.*/scsi_mod\.ko" "$TEST_DIR/megaraid_sas.deps" ||
    fail "modprobe does not load scsi_mod before megaraid_sas"
[ "$(modprobe -d "$TEST_DIR/x" -S "$kver" -R 'pci:v00008086d000010D3sv*sd*bc02sc00i*')" = e1000e ] ||
    fail "modprobe does not resolve the 82574L's modalias to e1000e"
[ "$(modprobe -d "$TEST_DIR/x" -S "$kver" -R pci:v00008086d00002922sv00001234sd00005678bc01sc06i01 | sort -u)" = ahci ] ||
    fail "modprobe lost the image's own ahci"
pass "modprobe finds the added modules through the .bin indexes"

# kmod's modinfo agrees with our catalog.
"$DRV" list --linux "$deb" --json >"$TEST_DIR/list.json"
ko=$(find "$TEST_DIR/x" -name 'e1000e.ko*')
diff <(modinfo -F alias "$ko" | sort) \
     <(jq -r '.modules[] | select(.name == "e1000e") | .aliases[]' "$TEST_DIR/list.json" | sort) ||
    fail "modinfo and list disagree on e1000e's aliases"
jq -e '.modules[] | select(.name == "megaraid_sas") | .aliases | index("pci:v00001000d0000005Bsv*sd*bc*sc*i*")' \
    "$TEST_DIR/list.json" >/dev/null || fail "list lacks megaraid_sas's alias"
pass "list agrees with modinfo"

# Errors: one clear line each.
printf 'not lspci at all\n' >"$TEST_DIR/bad.txt"
expect_error "line 1: not lspci" "$DRV" check --image "$TEST_DIR/initrd.img" --devices "$TEST_DIR/bad.txt"
head -c 3000 "$TEST_DIR/initrd.img" >"$TEST_DIR/broken.img"
expect_error "broken.img" "$DRV" check --image "$TEST_DIR/broken.img" --devices "$TEST_DIR/lspci.txt"
mkdir "$TEST_DIR/empty"
expect_error "no kernel modules" "$DRV" list --linux "$TEST_DIR/empty"
printf 'junk' >"$TEST_DIR/junk.deb"
expect_error "junk.deb" "$DRV" list --linux "$TEST_DIR/junk.deb"
expect_error "no module nosuchmod" "$DRV" add --image "$TEST_DIR/initrd.img" --from "$deb" \
    --module nosuchmod --out "$TEST_DIR/never.img"
[ ! -e "$TEST_DIR/never.img" ] || fail "a failed add left its output"
pass "errors"
