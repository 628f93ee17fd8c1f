#!/bin/bash
# The VM metadata writers (converter/vm-*.c) against tools nobody on the
# team wrote:
#   libvirt XML   virt-xml-validate (BIOS and UEFI, one and two disks, NICs
#                 with and without MACs, Windows), xmllint --xpath reads
#                 back a name full of XML-special characters
#   .vmx          keys read back; '"' and '|' in |XX form; MAC rules
#   OVF           well-formed (xmllint), references and sizes
#   OVA           tar lists .ovf first, the disks, .mf last; the extracted
#                 disk is identical to its source (qemu-img compare); every
#                 manifest line matches sha256sum
#   hardware      every disk bus (virtio-blk, virtio-scsi, SATA, LSI Logic
#                 SAS, pvscsi) and NIC model (virtio, e1000, e1000e, vmxnet3)
#                 the target can have: libvirt validated, .vmx and OVF read back
#   bad input     a missing disk, a wrong format, a malformed MAC, virtio on
#                 VMware, VMware's devices on KVM: one line, non-zero,
#                 nothing left behind
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
requires virt-xml-validate xmllint qemu-img tar sha256sum

W=$P2V_BUILD_DIR/tests/write-vm
[ -x "$W" ] || fail "$W is not built"
cd "$TEST_DIR"
GiB=$((1024 * 1024 * 1024))

# ---- libvirt ----
validate() { virt-xml-validate "$1" domain >/dev/null 2>"$1.err" || { cat "$1.err" >&2; fail "$1 does not validate"; }; }

"$W" libvirt . bios.xml --name web01 --memory 2048 --vcpus 4 --disk web01-sda.qcow2:qcow2 \
    --nic 52:54:00:12:34:56
validate bios.xml
[ "$(xmllint --xpath 'string(/domain/os/type/@machine)' bios.xml)" = pc ] || fail "BIOS guest is not on machine pc"
[ "$(xmllint --xpath 'string(/domain/memory)' bios.xml)" = 2097152 ] || fail "memory is not 2 GiB in KiB"
[ "$(xmllint --xpath 'string(/domain/vcpu)' bios.xml)" = 4 ] || fail "vcpu is not 4"
[ "$(xmllint --xpath 'string(//interface/mac/@address)' bios.xml)" = 52:54:00:12:34:56 ] || fail "MAC not kept"
[ "$(xmllint --xpath 'string(//disk/source/@file)' bios.xml)" = "$TEST_DIR/web01-sda.qcow2" ] ||
    fail "disk path is not absolute"
[ "$(xmllint --xpath 'string(//disk/target/@bus)' bios.xml)" = virtio ] || fail "disk is not virtio"

"$W" libvirt . uefi.xml --name web02 --uefi --disk a.qcow2:qcow2 --disk b.raw:raw \
    --nic 52:54:00:00:00:01 --nic - --os-type windows --osinfo win2k19 \
    --description "Windows Server 2019 from p2v of host web02"
validate uefi.xml
[ "$(xmllint --xpath 'string(/domain/os/@firmware)' uefi.xml)" = efi ] || fail "UEFI guest has no firmware='efi'"
[ "$(xmllint --xpath 'string(/domain/os/type/@machine)' uefi.xml)" = q35 ] || fail "UEFI guest is not on q35"
[ "$(xmllint --xpath 'count(//disk)' uefi.xml)" = 2 ] || fail "expected two disks"
[ "$(xmllint --xpath 'string(//disk[2]/target/@dev)' uefi.xml)" = vdb ] || fail "second disk is not vdb"
[ "$(xmllint --xpath 'string(//disk[2]/driver/@type)' uefi.xml)" = raw ] || fail "second disk is not raw"
[ "$(xmllint --xpath 'count(//interface)' uefi.xml)" = 2 ] || fail "expected two NICs"
[ "$(xmllint --xpath 'count(//interface[2]/mac)' uefi.xml)" = 0 ] || fail "NIC without MAC got one"
[ "$(xmllint --xpath 'string(/domain/clock/@offset)' uefi.xml)" = localtime ] || fail "Windows clock is not localtime"

# A name with every XML-special character, a description with control
# characters and invalid UTF-8 from the "guest": still valid, read back.
name=$'a&b<c>\'d"e'
"$W" libvirt . special.xml --name "$name" --disk d.qcow2:qcow2 \
    --description $'Debian\x01\x1b[31m red \xff\xfe end'
validate special.xml
[ "$(xmllint --xpath 'string(/domain/name)' special.xml)" = "$name" ] || fail "name not escaped correctly"
[ "$(xmllint --xpath 'string(/domain/description)' special.xml)" = 'Debian??[31m red ?? end' ] ||
    fail "control characters or invalid UTF-8 not replaced: $(xmllint --xpath 'string(/domain/description)' special.xml)"
pass "libvirt XML validates (BIOS, UEFI, 2 disks, NICs, special characters)"

# Every disk bus and NIC model KVM can have: validated, read back.
for hw in virtio-blk:virtio:vd:virtio virtio-scsi:e1000:sd:scsi sata:e1000e:sd:sata; do
    IFS=: read -r bus nic prefix attr <<<"$hw"
    "$W" libvirt . "bus-$bus.xml" --disk a.qcow2:qcow2 --disk b.qcow2:qcow2 --nic - \
        --disk-bus "$bus" --nic-model "$nic" --os-type windows
    validate "bus-$bus.xml"
    x() { xmllint --xpath "$1" "bus-$bus.xml"; }
    [ "$(x 'string(//disk[1]/target/@bus)')" = "$attr" ] || fail "$bus: disk bus is $(x 'string(//disk[1]/target/@bus)')"
    [ "$(x 'string(//disk[2]/target/@dev)')" = "${prefix}b" ] || fail "$bus: second disk is $(x 'string(//disk[2]/target/@dev)')"
    [ "$(x 'string(//interface/model/@type)')" = "$nic" ] || fail "$nic: NIC model is $(x 'string(//interface/model/@type)')"
    want=0; [ "$bus" = virtio-scsi ] && want=1
    [ "$(x "count(//controller[@type='scsi'][@model='virtio-scsi'])")" = $want ] ||
        fail "$bus: $want virtio-scsi controller(s) expected"
done
pass "libvirt XML validates for virtio-blk, virtio-scsi (controller, sdX), SATA; virtio, e1000, e1000e"

# ---- vmx ----
"$W" vmx . web.vmx --name 'web "01" | test' --target vmware --uefi --osinfo debian12 \
    --memory 4095 --vcpus 2 --disk web-sda.vmdk:vmdk --disk web-sdb.vmdk:vmdk \
    --nic 00:50:56:01:02:03 --nic 00:11:22:33:44:55 --nic - --description $'two\nlines'
key() { sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" web.vmx; }
[ "$(head -1 web.vmx)" = '.encoding = "UTF-8"' ] || fail ".encoding is not the first line"
[ "$(key displayName)" = 'web |2201|22 |7C test' ] || fail "displayName not escaped: $(key displayName)"
[ "$(key annotation)" = 'two|0Alines' ] || fail "annotation not escaped: $(key annotation)"
[ "$(key virtualHW.version)" = 19 ] || fail "virtualHW.version"
[ "$(key guestOS)" = debian11-64 ] || fail "guestOS for debian12: $(key guestOS)"
[ "$(key memsize)" = 4096 ] || fail "memsize not rounded up to a multiple of 4: $(key memsize)"
[ "$(key numvcpus)" = 2 ] || fail "numvcpus"
[ "$(key firmware)" = efi ] || fail "firmware"
[ "$(key scsi0.virtualDev)" = pvscsi ] || fail "scsi0.virtualDev"
[ "$(key 'scsi0:1.fileName')" = web-sdb.vmdk ] || fail "second disk"
[ "$(key ethernet0.virtualDev)" = vmxnet3 ] || fail "ethernet0.virtualDev"
[ "$(key ethernet0.addressType)" = static ] && [ "$(key ethernet0.address)" = 00:50:56:01:02:03 ] ||
    fail "MAC in VMware's static range not kept"
[ -z "$(key ethernet0.checkMACAddress)" ] || fail "checkMACAddress written for a MAC in VMware's range"
[ "$(key ethernet1.address)" = 00:11:22:33:44:55 ] && [ "$(key ethernet1.checkMACAddress)" = FALSE ] ||
    fail "MAC outside VMware's range needs checkMACAddress FALSE"
[ "$(key ethernet2.addressType)" = generated ] || fail "NIC without MAC is not generated"
if grep -v '^[.a-zA-Z0-9:_]* = "[^"]*"$' web.vmx; then fail "a .vmx line is not KEY = \"VALUE\""; fi
"$W" vmx . w.vmx --disk one.qcow2:qcow2 2>err && fail "vmx accepted a qcow2 disk"
pass ".vmx read back"

# LSI Logic SAS, SATA, pvscsi; e1000e, e1000, vmxnet3.
vkey() { sed -n "s/^$2 = \"\(.*\)\"\$/\1/p" "$1"; }
"$W" vmx . lsi.vmx --target vmware --disk a.vmdk:vmdk --disk b.vmdk:vmdk --nic - \
    --disk-bus lsi-sas --nic-model e1000e
[ "$(vkey lsi.vmx scsi0.virtualDev)" = lsisas1068 ] || fail "LSI SAS: scsi0.virtualDev"
[ "$(vkey lsi.vmx 'scsi0:1.fileName')" = b.vmdk ] || fail "LSI SAS: second disk"
[ "$(vkey lsi.vmx ethernet0.virtualDev)" = e1000e ] || fail "e1000e: ethernet0.virtualDev"
"$W" vmx . sata.vmx --target vmware --disk a.vmdk:vmdk --disk b.vmdk:vmdk --nic - \
    --disk-bus sata --nic-model e1000
[ "$(vkey sata.vmx sata0.present)" = TRUE ] || fail "SATA: sata0.present"
[ "$(vkey sata.vmx 'sata0:0.fileName')" = a.vmdk ] && [ "$(vkey sata.vmx 'sata0:1.fileName')" = b.vmdk ] ||
    fail "SATA: disks not on sata0:0 and sata0:1"
grep -q '^scsi0' sata.vmx && fail "SATA: a SCSI controller was written too"
[ "$(vkey sata.vmx ethernet0.virtualDev)" = e1000 ] || fail "e1000: ethernet0.virtualDev"
"$W" vmx . pv.vmx --target vmware --disk a.vmdk:vmdk --nic - --disk-bus pvscsi --nic-model vmxnet3
cmp <(grep -v '^displayName' pv.vmx) <("$W" vmx . def.vmx --target vmware --disk a.vmdk:vmdk --nic - &&
                                      grep -v '^displayName' def.vmx) ||
    fail "pvscsi and vmxnet3 given explicitly differ from the default"
for f in lsi.vmx sata.vmx pv.vmx; do
    if grep -v '^[.a-zA-Z0-9:_]* = "[^"]*"$' "$f"; then fail "a $f line is not KEY = \"VALUE\""; fi
done
pass ".vmx: lsisas1068, SATA (sata0:N), pvscsi; e1000e, e1000, vmxnet3"

# ---- OVF and OVA ----
head -c $((3 * 1024 * 1024)) /dev/urandom >src1.raw
truncate -s $((32 * 1024 * 1024)) src1.raw
truncate -s $((16 * 1024 * 1024)) src2.raw
printf 'second disk' | dd of=src2.raw bs=1 seek=4096 conv=notrunc status=none
qemu-img convert -O vmdk -o subformat=streamOptimized src1.raw web-sda.vmdk
qemu-img convert -O vmdk -o subformat=streamOptimized src2.raw web-sdb.vmdk
vmopts=(--name "web&01" --target vmware --osinfo debian12 --uefi
        --disk "web-sda.vmdk:vmdk-stream:$((32 * 1024 * 1024)):3145728"
        --disk "web-sdb.vmdk:vmdk-stream:$((16 * 1024 * 1024))" --nic 00:50:56:01:02:03)

"$W" ovf . web.ovf "${vmopts[@]}"
xmllint --noout web.ovf || fail "web.ovf is not well-formed"
ovf() { xmllint --xpath "$1" web.ovf; }
[ "$(ovf 'string(//*[local-name()="VirtualSystem"]/*[local-name()="Name"])')" = "web&01" ] || fail "OVF name"
[ "$(ovf 'count(//*[local-name()="File"])')" = 2 ] || fail "OVF References"
[ "$(ovf 'string(//*[local-name()="File"][1]/@*[local-name()="size"])')" = "$(stat -c %s web-sda.vmdk)" ] ||
    fail "OVF file size is not the file's"
[ "$(ovf 'string(//*[local-name()="Disk"][1]/@*[local-name()="capacity"])')" = $((32 * 1024 * 1024)) ] ||
    fail "OVF disk capacity"
[ "$(ovf 'string(//*[local-name()="OperatingSystemSection"]/@*[local-name()="osType"])')" = debian11_64Guest ] ||
    fail "OVF osType"
[ "$(ovf 'string(//*[local-name()="VirtualSystemType"])')" = vmx-19 ] || fail "OVF VirtualSystemType"
ovf '//*[local-name()="ResourceSubType"]' | grep -q VirtualSCSI || fail "no VirtualSCSI controller"
ovf '//*[local-name()="ResourceSubType"]' | grep -q VmxNet3 || fail "no VmxNet3 NIC"
[ "$(ovf 'string(//*[local-name()="Config"]/@*[local-name()="value"])')" = efi ] || fail "OVF firmware efi"
pass "OVF well-formed"

# The controller and NIC items for LSI Logic SAS + e1000e and SATA + e1000.
item() {  # FILE RESOURCETYPE -> the ResourceSubType of that item
    xmllint --xpath "string(//*[local-name()='Item'][*[local-name()='ResourceType']='$2']/*[local-name()='ResourceSubType'])" "$1"
}
"$W" ovf . lsi.ovf "${vmopts[@]}" --disk-bus lsi-sas --nic-model e1000e
xmllint --noout lsi.ovf || fail "lsi.ovf is not well-formed"
[ "$(item lsi.ovf 6)" = lsilogicsas ] || fail "LSI SAS: controller subtype $(item lsi.ovf 6)"
[ "$(item lsi.ovf 10)" = E1000e ] || fail "e1000e: NIC subtype $(item lsi.ovf 10)"
"$W" ovf . sata.ovf "${vmopts[@]}" --disk-bus sata --nic-model e1000
xmllint --noout sata.ovf || fail "sata.ovf is not well-formed"
[ "$(item sata.ovf 20)" = vmware.sata.ahci ] || fail "SATA: no AHCI controller (ResourceType 20)"
[ "$(xmllint --xpath "count(//*[local-name()='ResourceType'][.='6'])" sata.ovf)" = 0 ] ||
    fail "SATA: a SCSI controller was written too"
sata_id=$(xmllint --xpath "string(//*[local-name()='Item'][*[local-name()='ResourceType']='20']/*[local-name()='InstanceID'])" sata.ovf)
[ "$(xmllint --xpath "count(//*[local-name()='Item'][*[local-name()='ResourceType']='17'][*[local-name()='Parent']='$sata_id'])" sata.ovf)" = 2 ] ||
    fail "SATA: the disks are not on the SATA controller"
[ "$(xmllint --xpath "string(//*[local-name()='Item'][*[local-name()='ResourceType']='17'][2]/*[local-name()='AddressOnParent'])" sata.ovf)" = 1 ] ||
    fail "SATA: the second disk is not on port 1"
[ "$(item sata.ovf 10)" = E1000 ] || fail "e1000: NIC subtype $(item sata.ovf 10)"
[ "$(item web.ovf 6)" = VirtualSCSI ] && [ "$(item web.ovf 10)" = VmxNet3 ] || fail "default: not pvscsi and vmxnet3"
pass "OVF: lsilogicsas, SATA (ResourceType 20, AHCI), VirtualSCSI; E1000e, E1000, VmxNet3"

"$W" ova . web.ova "${vmopts[@]}"
tar tf web.ova >members
[ "$(cat members)" = "$(printf 'web.ovf\nweb-sda.vmdk\nweb-sdb.vmdk\nweb.mf')" ] ||
    { cat members >&2; fail "OVA members not in OVF order (.ovf, disks, .mf)"; }
[ "$(head -c 263 web.ova | tail -c 6 | tr -d '\0')" = ustar ] || fail "first OVA header is not ustar"
mkdir x
tar xf web.ova -C x
xmllint --noout x/web.ovf || fail "OVF inside the OVA is not well-formed"
[ "$(xmllint --xpath 'string(//*[local-name()="File"][2]/@*[local-name()="href"])' x/web.ovf)" = web-sdb.vmdk ] ||
    fail "OVF inside the OVA names disks by their member name"
qemu-img compare -q -f vmdk -F raw x/web-sda.vmdk src1.raw || fail "OVA disk 1 differs from its source"
qemu-img compare -q -f vmdk -F raw x/web-sdb.vmdk src2.raw || fail "OVA disk 2 differs from its source"
[ "$(wc -l <x/web.mf)" = 3 ] || fail "manifest should have 3 lines"
while read -r line; do
    [[ $line =~ ^SHA256\((.*)\)=\ ([0-9a-f]{64})$ ]] || fail "manifest line: $line"
    sum=$(sha256sum "x/${BASH_REMATCH[1]}" | cut -d' ' -f1)
    [ "$sum" = "${BASH_REMATCH[2]}" ] || fail "SHA-256 of ${BASH_REMATCH[1]} does not match the manifest"
done <x/web.mf
pass "OVA: members in order, disks identical, manifest matches sha256sum"

# ---- bad input: one line, non-zero, nothing left ----
expect_error "cannot open disk .*missing\.vmdk.*No such file" \
    "$W" ova . bad.ova --target vmware --disk web-sda.vmdk:vmdk-stream --disk missing.vmdk:vmdk-stream
[ ! -e bad.ova ] && [ ! -e bad.ova.tmp ] || fail "a failed OVA left a file behind"
expect_error "need streamOptimized VMDK" "$W" ova . bad.ova --disk src1.raw:raw
expect_error "malformed MAC address '52:54:00:zz:00:01'" \
    "$W" libvirt . bad.xml --disk d.qcow2:qcow2 --nic 52:54:00:zz:00:01
expect_error "has no disks" "$W" libvirt . bad.xml
expect_error "vmdk-stream, which a KVM guest cannot run on" "$W" libvirt . bad.xml --disk d.vmdk:vmdk-stream
expect_error "control character" "$W" libvirt . bad.xml --name $'a\nb' --disk d.qcow2:qcow2
# Hardware a target cannot have: one line, nothing written.
expect_error "VM p2v-test: a VMware VM cannot have a virtio-blk disk controller: use lsi-sas, pvscsi or sata" \
    "$W" vmx . bad.vmx --target vmware --disk a.vmdk:vmdk --disk-bus virtio-blk
expect_error "a VMware VM cannot have a virtio-scsi disk controller" \
    "$W" ovf . bad.ovf --target vmware --disk web-sda.vmdk:vmdk-stream --disk-bus virtio-scsi
expect_error "VM p2v-test: a VMware VM cannot have a virtio NIC: use e1000, e1000e or vmxnet3" \
    "$W" vmx . bad.vmx --target vmware --disk a.vmdk:vmdk --nic - --nic-model virtio
expect_error "VM p2v-test: a KVM VM cannot have a pvscsi disk controller: use virtio-blk, virtio-scsi or sata" \
    "$W" libvirt . bad.xml --disk d.qcow2:qcow2 --disk-bus pvscsi
expect_error "a KVM VM cannot have a vmxnet3 NIC" \
    "$W" libvirt . bad.xml --disk d.qcow2:qcow2 --nic - --nic-model vmxnet3
[ -z "$(ls bad.* 2>/dev/null)" ] || fail "failed writers left files: $(ls bad.*)"
pass "bad input: one line each, nothing left behind"
