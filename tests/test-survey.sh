#!/usr/bin/env bash
# p2v-agent survey against tools nobody on the team wrote: hostname, nproc,
# /proc/meminfo, ip, lspci, lsblk, parted and dumpe2fs; the JSON against
# docs/survey.schema.json.  An image file's survey has no host facts.
source "$(dirname "$0")/functions.sh"
requires jq parted mkfs.ext4 dumpe2fs lspci ip nproc hostname lsblk
[ -x "$P2V_AGENT" ] || skip "$P2V_AGENT is not built"

# A disk image: GPT, partition 1 ext4 with files (made with mkfs.ext4 -d and
# placed with dd), partition 2 without a filesystem.
img=$TEST_DIR/disk.img
part=$TEST_DIR/part1.img
mkdir "$TEST_DIR/files"
head -c 3000000 /dev/urandom >"$TEST_DIR/files/random.bin"
seq 1 100000 >"$TEST_DIR/files/numbers.txt"
truncate -s 64M "$img"
parted -s "$img" mklabel gpt mkpart one ext4 1MiB 33MiB mkpart two 33MiB 63MiB 2>"$TEST_DIR/parted.err" ||
    { cat "$TEST_DIR/parted.err" >&2; fail "parted failed"; }
truncate -s 32M "$part"
mkfs.ext4 -q -F -L p2vtest -d "$TEST_DIR/files" "$part"
dd if="$part" of="$img" bs=1M seek=1 conv=notrunc status=none

# What the tools say about it.
dumpe2fs -h "$part" >"$TEST_DIR/dumpe2fs" 2>/dev/null
field() { sed -n "s/^$1: *//p" "$TEST_DIR/dumpe2fs"; }
ext4_used=$(( ($(field 'Block count') - $(field 'Free blocks')) * $(field 'Block size') ))
parted -s -m "$img" unit B print >"$TEST_DIR/parted"
part_start() { awk -F: -v n="$1" '$1 == n { sub("B", "", $2); print $2 }' "$TEST_DIR/parted"; }
part_size() { awk -F: -v n="$1" '$1 == n { sub("B", "", $4); print $4 }' "$TEST_DIR/parted"; }

# The machine: surveyed with its own disks (no DISK given).
"$P2V_AGENT" survey --json >"$TEST_DIR/all.json" 2>"$TEST_DIR/all.err" ||
    { cat "$TEST_DIR/all.err" >&2; fail "p2v-agent survey --json failed"; }
s=$TEST_DIR/all.json
jq -e . "$s" >/dev/null || fail "survey --json is not JSON"
q() { jq -r "$1" "$s"; }
expect() {  # expect WHAT GOT WANTED
    [ "$2" = "$3" ] || fail "$1: survey says '$2', expected '$3'"
}

expect schema_version "$(q .schema_version)" 1
expect hostname "$(q .hostname)" "$(hostname)"
expect memory_bytes "$(q .memory_bytes)" "$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 ))"
expect cpus.threads "$(q .cpus.threads)" "$(nproc --all)"
if [ -d /sys/firmware/efi ]; then fw=uefi; else fw=bios; fi
expect firmware "$(q .firmware)" "$fw"
expect os.kernel "$(q .os.kernel)" "$(uname -r)"
expect os.arch "$(q .os.arch)" "$(uname -m)"
pass "hostname, memory, threads, firmware, kernel"

# NICs: every interface but loopback, with its MAC where it has one.
ip -j link | jq -r '.[] | select(.link_type != "loopback") | .ifname' | sort >"$TEST_DIR/ip-names"
q '.nics[].name' | sort >"$TEST_DIR/nic-names"
diff -u "$TEST_DIR/ip-names" "$TEST_DIR/nic-names" || fail "NIC names differ from ip link"
ip -j link | jq -r '.[] | select(.link_type != "loopback") | select(.address // "" | test("^[0-9a-f]{2}(:[0-9a-f]{2})+$"))
                    | "\(.ifname) \(.address)"' | sort >"$TEST_DIR/ip-macs"
q '.nics[] | select(.mac != null) | "\(.name) \(.mac)"' | sort >"$TEST_DIR/nic-macs"
diff -u "$TEST_DIR/ip-macs" "$TEST_DIR/nic-macs" || fail "NIC MACs differ from ip link"
ip -j addr | jq -r '.[] | select(.link_type != "loopback") | .ifname as $n | .addr_info[]
                    | "\($n) \(.local)/\(.prefixlen)"' | sort >"$TEST_DIR/ip-addrs"
q '.nics[] | .name as $n | .addresses[] | "\($n) \(.address)/\(.prefix)"' | sort >"$TEST_DIR/nic-addrs"
diff -u "$TEST_DIR/ip-addrs" "$TEST_DIR/nic-addrs" || fail "NIC addresses differ from ip addr"
pass "$(wc -l <"$TEST_DIR/nic-names") NICs match ip link and ip addr"

# PCI devices: slot, class and prog-if, ids, subsystem ids (lspci leaves an
# absent subsystem empty where sysfs says 0000).
lspci -D -n -mm | sed -E 's/ -r[0-9a-f]+//' |
    awk -F'"' '{ split($1, a, " "); p = $0; sub(/.*-p/, "", p); p = substr(p, 1, 2)
                 print a[1], $2 p, $4, $6, ($8 == "" ? "0000" : $8), ($10 == "" ? "0000" : $10) }' |
    sort >"$TEST_DIR/lspci"
q '.pci_devices[] | "\(.slot) \(.class_code) \(.vendor_id) \(.device_id) \(.subsystem_vendor_id // "0000") \(.subsystem_device_id // "0000")"' |
    sort >"$TEST_DIR/pci"
diff -u "$TEST_DIR/lspci" "$TEST_DIR/pci" || fail "PCI devices differ from lspci -n -mm"
expect "PCI device count" "$(q '.pci_devices | length')" "$(lspci -n -mm | wc -l)"
pass "$(wc -l <"$TEST_DIR/pci") PCI devices match lspci"

# An image file: the machine in it is not this host, so none of this
# host's facts is given as its; the disk says it is a file.
"$P2V_AGENT" survey --json "$img" >"$TEST_DIR/survey.json" 2>"$TEST_DIR/survey.err" ||
    { cat "$TEST_DIR/survey.err" >&2; fail "p2v-agent survey --json $img failed"; }
s=$TEST_DIR/survey.json
jq -e . "$s" >/dev/null || fail "survey --json $img is not JSON"
expect "image: host facts" "$(q '[.hostname, .firmware, .secure_boot, .memory_bytes, .cpus.model,
    .cpus.sockets, .cpus.cores, .cpus.threads, .os.family, .os.id, .os.name, .os.version,
    .os.kernel, .os.arch] | map(tostring) | join(" ")')" "$(printf 'null%.0s ' {1..14} | sed 's/ $//')"
expect "image: NICs and PCI devices" "$(q '[(.nics | length), (.pci_devices | length)] | join(" ")')" "0 0"
pass "an image file's survey gives no host facts (all null, no NICs, no PCI devices)"

# The disk image.
expect "disk count" "$(q '.disks | length')" 1
expect disks[0].path "$(q '.disks[0].path')" "$img"
expect disks[0].name "$(q '.disks[0].name')" disk.img
expect disks[0].bus "$(q '.disks[0].bus')" file
expect disks[0].size_bytes "$(q '.disks[0].size_bytes')" "$(stat -c %s "$img")"
expect disks[0].table_type "$(q '.disks[0].table_type')" gpt
expect "partition count" "$(q '.disks[0].partitions | length')" 2
for n in 1 2; do
    expect "partition $n number" "$(q ".disks[0].partitions[$((n-1))].number")" "$n"
    expect "partition $n offset" "$(q ".disks[0].partitions[$((n-1))].offset")" "$(part_start $n)"
    expect "partition $n length" "$(q ".disks[0].partitions[$((n-1))].length")" "$(part_size $n)"
done
expect "partition 1 filesystem" "$(q '.disks[0].partitions[0].filesystem')" ext4
expect "partition 1 label" "$(q '.disks[0].partitions[0].label')" p2vtest
expect "partition 1 used_bytes (dumpe2fs)" "$(q '.disks[0].partitions[0].used_bytes')" "$ext4_used"
expect "partition 2 used_bytes" "$(q '.disks[0].partitions[1].used_bytes')" null
# The disk's total: the ext4's use plus all of the unreadable partition 2.
expect "disk used_bytes" "$(q '.disks[0].used_bytes')" "$(( ext4_used + $(part_size 2) ))"
pass "disk image: gpt, ext4 'p2vtest' with $ext4_used bytes used (dumpe2fs)"

# The JSON against the documented schema: a real validator when there is
# one (python3-jsonschema), else jq checks of the members and their types.
schema=$P2V_SOURCE_DIR/docs/survey.schema.json
validate='
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.Draft202012Validator
cls.check_schema(schema)
errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(json.load(open(sys.argv[2]))))
for e in errors:
    print("%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message), file=sys.stderr)
sys.exit(1 if errors else 0)'
validator=
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import jsonschema; jsonschema.Draft202012Validator' 2>/dev/null; then validator=$py; break; fi
done
if [ -n "$validator" ]; then
    "$validator" -c "$validate" "$schema" "$s" || fail "survey --json does not validate against $schema"
    # And the validator does reject a bad document.
    jq '.disks[0].size_bytes = -1' "$s" >"$TEST_DIR/bad.json"
    ! "$validator" -c "$validate" "$schema" "$TEST_DIR/bad.json" 2>/dev/null ||
        fail "the schema accepts a negative size"
    pass "JSON validates against docs/survey.schema.json (jsonschema)"
else
    jq -e '(.schema_version == 1) and (.hostname | type == "string" or . == null)
           and (.os | type == "object") and (.cpus.threads | type == "number" or . == null)
           and (.memory_bytes | type == "number" or . == null) and (.firmware | IN("bios", "uefi", null))
           and (.disks | all(.[]; (.size_bytes | type == "number") and (.used_bytes <= .size_bytes)))
           and (.nics | all(.[]; (.name | type == "string") and (.addresses | type == "array")))
           and (.pci_devices | all(.[]; .class_code | test("^[0-9a-f]{6}$")))' "$s" >/dev/null ||
        fail "survey --json lacks members or has wrong types"
    pass "JSON members and types (jq; install python3-jsonschema for the full schema check)"
fi

# Text for people: the host and every disk.
"$P2V_AGENT" survey >"$TEST_DIR/host.txt" 2>/dev/null || fail "p2v-agent survey failed"
grep -qF "$(hostname)" "$TEST_DIR/host.txt" || fail "text survey does not mention the hostname"
"$P2V_AGENT" survey "$img" >"$TEST_DIR/survey.txt" 2>/dev/null || fail "p2v-agent survey $img failed"
grep -qF "$img" "$TEST_DIR/survey.txt" || fail "text survey does not mention $img"
grep -qF p2vtest "$TEST_DIR/survey.txt" || fail "text survey does not mention the ext4 label"
grep -qF "the disks are image files" "$TEST_DIR/survey.txt" || fail "text survey does not say the disks are image files"
pass "text output names the host, or the disk image and its filesystem"

# Without DISK: the machine's real disks, as lsblk lists them (less loop,
# zram, dm, md, nbd, optical, floppy and empty devices).
lsblk -d -b -n -J -o NAME,SIZE | jq -r '.blockdevices[]
    | select(.name | test("^(loop|ram|zram|dm-|md|nbd|sr|fd)") | not) | select(.size > 0)
    | "\(.name) \(.size)"' | sort >"$TEST_DIR/lsblk"
jq -r '.disks[] | "\(.name) \(.size_bytes)"' "$TEST_DIR/all.json" | sort >"$TEST_DIR/disks"
diff -u "$TEST_DIR/lsblk" "$TEST_DIR/disks" || fail "disks differ from lsblk"
if [ -n "$validator" ]; then
    "$validator" -c "$validate" "$schema" "$TEST_DIR/all.json" || fail "survey of all disks does not validate"
fi
pass "$(wc -l <"$TEST_DIR/disks") system disks match lsblk"

# Nothing fails hard: a disk that is not there is a warning and left out.
"$P2V_AGENT" survey --json "$TEST_DIR/missing.img" >"$TEST_DIR/missing.json" 2>"$TEST_DIR/missing.err" ||
    fail "survey of a missing disk failed instead of warning"
[ "$(jq '.disks | length' "$TEST_DIR/missing.json")" = 0 ] || fail "a missing disk is listed"
grep -q "warning: survey: $TEST_DIR/missing.img: left out" "$TEST_DIR/missing.err" ||
    { cat "$TEST_DIR/missing.err" >&2; fail "no warning about the missing disk"; }
pass "a missing disk is a warning, not a failure"
