# Phony Windows guests for the Windows conversion tests: enough of a
# Windows volume for libguestfs inspection (the way libguestfs's
# test-data/phony-guests builds its own): NTFS, SYSTEM and SOFTWARE
# hives merged from .reg text into $P2V_SHARED_DIR/testdata/windows/
# minimal-hive with hivexregedit, and a PE cmd.exe (mingw-w64) that gives
# the architecture.  Source after functions.sh and guest-helpers.sh.
#
#   guest_windows VARIANT   prints the path of a raw image (read-only:
#                           serve it, or put an overlay on it)
#     2k8r2      Windows Server 2008 R2, MBR/BIOS, System Reserved + C:,
#                Select\Current=2 (ControlSet001 is a stale set with
#                another computer name), no DriverDatabase, msahci and
#                LSI_SAS not boot-start (a StartOverride each, as 2012 and
#                later have), a static IPv4 address, vendor
#                agent services (HPE, Dell) set to start
#     2k22       Windows Server 2022, GPT/UEFI (ESP with only the Windows
#                boot manager, MSR, C:), DriverDatabase, Fast Startup on,
#                group policy, an antivirus product, a static IPv4 address
#     32bit      2k22 with a 32-bit (i686) cmd.exe
#     2k3        Windows Server 2003 (NT 5.2)
#     hibernated 2k8r2 with a hiberfil.sys starting "HIBR"
#     select     2k8r2 with Select\Current=2 but Default=1
#     full       2k8r2 with a 120 MiB C: that has less than 100 MiB free
#     bitlocker  2k8r2 whose System Reserved partition starts -FVE-FS-
#     dynamic    2k8r2 whose System Reserved partition has MBR type 0x42
# All are built by one guestfish launch (TCG: about a minute) and cached
# under $P2V_TEST_CACHE/windows-KEY/, keyed by a hash of this recipe.

WIN_NET_GUID='{6BA4A7F2-3C1D-4E5F-9A8B-7C6D5E4F3A2B}'
WIN_C_GUID='01234567-89AB-CDEF-0123-456789ABCDEF'   # 2k22's C: partition
WIN_C_IP=192.168.10.20

guest_windows() {
    local dir
    dir=$(guest__cached_dir windows guest__build_windows guest__windows_fns) || return 1
    [ -f "$dir/$1.raw" ] || { echo "windows-guests: no variant $1" >&2; return 1; }
    echo "$dir/$1.raw"
}


# guest__cached_dir NAME BUILDER: like guest__cached, for a folder of images.
guest__cached_dir() {
    local name=$1 builder=$2 key out
    key=$( { declare -f guest__build_windows win__reg_parents win__multi win__expand \
                 win__software_reg win__system_reg win__image_script win__mkexe;
             sha256sum "$P2V_SHARED_DIR/testdata/windows/minimal-hive"; } | sha256sum | cut -c1-16)
    mkdir -p "$P2V_TEST_CACHE"
    out=$P2V_TEST_CACHE/$name-$key
    (
        flock -x 9
        if [ ! -f "$out/done" ]; then
            rm -rf "$out.part"
            mkdir -p "$out.part"
            local t0=$SECONDS
            "$builder" "$out.part" >&2 || { rm -rf "$out.part"; exit 1; }
            touch "$out.part/done"
            rm -rf "$out"
            mv -f "$out.part" "$out"
            find "$P2V_TEST_CACHE" -maxdepth 1 -name "$name-*" ! -path "$out" ! -name "*.lock" \
                -exec rm -rf {} +
            echo "windows-guests: built $name in $((SECONDS - t0)) s" >&2
        fi
    ) 9>"$P2V_TEST_CACHE/$name.lock" || return 1
    echo "$out"
}

# .reg text on stdin with every missing parent key added (hivexregedit
# creates a key only under an existing one).
win__reg_parents() {
    P2V_REG_PREFIX=$1 awk '
    BEGIN { prefix = ENVIRON["P2V_REG_PREFIX"] }
    /^\[/ { key = substr($0, 2, length($0) - 2); n = split(key, parts, "\\\\"); path = ""
            for (i = 1; i < n; i++) {
                path = path (i > 1 ? "\\" : "") parts[i]
                if (length(path) > length(prefix) && !(path in seen)) { seen[path] = 1; print "[" path "]"; print "" }
            }
            seen[key] = 1 }
    { print }'
}

# REG_MULTI_SZ / REG_EXPAND_SZ values as .reg hex.
win__hex() { iconv -f UTF-8 -t UTF-16LE | od -An -tx1 -v | tr -s ' \n' ' ' | sed 's/^ //; s/ $//; s/ /,/g'; }
win__multi() { { printf '%s\0' "$@"; printf '\0'; } | win__hex; }
win__expand() { printf '%s\0' "$1" | win__hex; }

# win__software_reg PRODUCT VERSION MAJOR MINOR BUILD [risky]: risky adds
# group policy and an antivirus product (both warned about).
win__software_reg() {
    local k='HKEY_LOCAL_MACHINE\SOFTWARE'
    cat <<EOF
Windows Registry Editor Version 5.00

[$k\\Microsoft\\Windows NT\\CurrentVersion]
"ProductName"="$1"
"CurrentVersion"="$2"
"CurrentBuildNumber"="$5"
"CurrentBuild"="$5"
"InstallationType"="Server"
"EditionID"="ServerStandard"
"SystemRoot"="C:\\\\Windows"
EOF
    if [ "$3" -ge 10 ]; then
        printf '"CurrentMajorVersionNumber"=dword:%08x\n"CurrentMinorVersionNumber"=dword:%08x\n' "$3" "$4"
    fi
    cat <<EOF

[$k\\Microsoft\\Windows\\CurrentVersion]
"DevicePath"=hex(2):$(win__expand '%SystemRoot%\inf')
"ProgramFilesDir"="C:\\\\Program Files"

[$k\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\p2v-test-app]
"DisplayName"="p2v test application"
"DisplayVersion"="1.0"
EOF
    [ "${6:-}" = risky ] || return 0
    cat <<EOF

[$k\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{5E6F7A8B-0000-4000-8000-000000000001}]
"DisplayName"="Symantec Endpoint Protection"
"DisplayVersion"="14.3"

[$k\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine]
"Distinguished-Name"="CN=W2K22-SRV,OU=Servers,DC=example,DC=com"

[$k\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List\\0]
"GPOName"="Default Domain Policy"

[$k\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\GPO-List\\1]
"GPOName"="Local Group Policy"
EOF
}

# win__system_reg CURRENT DEFAULT HOSTNAME MODERN(0|1) MOUNTED-DEVICES-HEX
win__system_reg() {
    local k='HKEY_LOCAL_MACHINE\SYSTEM' cs ahci
    cs=$(printf 'ControlSet%03d' "$1")
    ahci=$([ "$4" = 1 ] && echo storahci || echo msahci)
    cat <<EOF
Windows Registry Editor Version 5.00

[$k\\Select]
"Current"=dword:$(printf %08x "$1")
"Default"=dword:$(printf %08x "$2")
"Failed"=dword:00000000
"LastKnownGood"=dword:00000003

[$k\\MountedDevices]
"\\\\DosDevices\\\\C:"=hex:$5

[$k\\ControlSet001\\Control\\ComputerName\\ComputerName]
"ComputerName"="STALE-SET"

[$k\\ControlSet001\\Services\\Tcpip\\Parameters]
"Hostname"="STALE-SET"

[$k\\$cs\\Control\\ComputerName\\ComputerName]
"ComputerName"="$3"

[$k\\$cs\\Services\\Tcpip\\Parameters]
"Hostname"="$3"

[$k\\$cs\\Control\\ProductOptions]
"ProductType"="ServerNT"

[$k\\$cs\\Control\\TimeZoneInformation]
"TimeZoneKeyName"="UTC"

[$k\\$cs\\Control\\CriticalDeviceDatabase\\pci#ven_8086&dev_3a22&cc_0106]
"Service"="$ahci"
"ClassGUID"="{4D36E97B-E325-11CE-BFC1-08002BE10318}"

[$k\\$cs\\Services\\$ahci]
"Type"=dword:00000001
"Start"=dword:00000003
"ErrorControl"=dword:00000003
"Group"="SCSI miniport"
"ImagePath"=hex(2):$(win__expand "system32\\DRIVERS\\$ahci.sys")

[$k\\$cs\\Services\\$ahci\\StartOverride]
"0"=dword:00000003

[$k\\$cs\\Services\\LSI_SAS]
"Type"=dword:00000001
"Start"=dword:00000003
"ErrorControl"=dword:00000001
"Group"="SCSI miniport"
"ImagePath"=hex(2):$(win__expand 'system32\DRIVERS\lsi_sas.sys')

[$k\\$cs\\Services\\LSI_SAS\\StartOverride]
"0"=dword:00000003

[$k\\$cs\\Services\\Tcpip\\Parameters\\Interfaces\\$WIN_NET_GUID]
"EnableDHCP"=dword:00000000
"IPAddress"=hex(7):$(win__multi "$WIN_C_IP")
"SubnetMask"=hex(7):$(win__multi 255.255.255.0)
"DefaultGateway"=hex(7):$(win__multi 192.168.10.1)
"NameServer"="192.168.10.2,192.168.10.3"

[$k\\$cs\\Services\\Tcpip\\Parameters\\Interfaces\\{11111111-2222-3333-4444-555555555555}]
"EnableDHCP"=dword:00000001

[$k\\$cs\\Control\\Class\\{4D36E972-E325-11CE-BFC1-08002BE10318}\\0007]
"NetCfgInstanceId"="$WIN_NET_GUID"
"MatchingDeviceId"="pci\\\\ven_8086&dev_10d3"
"DriverDesc"="Intel(R) 82574L Gigabit Network Connection"
EOF
    if [ "$4" = 1 ]; then
        cat <<EOF

[$k\\DriverDatabase\\DeviceIds\\PCI\\VEN_8086&DEV_2922&CC_0106]
"storahci.inf"=hex:01,ff,00,00

[$k\\DriverDatabase\\DriverPackages\\storahci.inf_amd64_0000000000000000]
"Version"=hex:00

[$k\\$cs\\Control\\Session Manager\\Power]
"HiberbootEnabled"=dword:00000001
EOF
    else
        # Physical-server agents (2008 R2 guest only): HPE Insight, Dell OpenManage.
        cat <<EOF

[$k\\$cs\\Services\\CqMgHost]
"Type"=dword:00000010
"Start"=dword:00000002
"ErrorControl"=dword:00000001
"DisplayName"="HP Insight Foundation Agents"
"ImagePath"=hex(2):$(win__expand 'C:\hp\cqmghost.exe')

[$k\\$cs\\Services\\dcstor64]
"Type"=dword:00000010
"Start"=dword:00000002
"ErrorControl"=dword:00000001
"DisplayName"="DSM SA Data Manager"
"ImagePath"=hex(2):$(win__expand 'C:\dell\dcstor64.exe')
EOF
    fi
}

# win__mkexe CC OUT: a trivial program, so inspection reads the PE header.
win__mkexe() {
    printf 'int main(void) { return 0; }\n' >"$2.c"
    "$1" -O2 -s -o "$2" "$2.c"
}

# win__image_script DEV LAYOUT SOFTWARE SYSTEM CMD [EXTRA...]: guestfish
# commands making one image: LAYOUT mbr (System Reserved + C:), gpt (ESP,
# MSR, C:) or small (MBR, a 120 MiB C:).
win__image_script() {
    local d=$1 layout=$2 sw=$3 sys=$4 cmd=$5 c
    shift 5
    case $layout in
    mbr|small)
        echo "part-init $d mbr"
        echo "part-add $d p 2048 67583"
        if [ "$layout" = small ]; then echo "part-add $d p 67584 313343"
        else echo "part-add $d p 67584 522239"; fi
        echo "part-set-bootable $d 1 true"
        echo "part-set-mbr-id $d 1 0x07"
        echo "part-set-mbr-id $d 2 0x07"
        echo "mkfs ntfs ${d}1 label:System-Reserved"
        echo "mkfs ntfs ${d}2"
        echo "mount ${d}1 /"
        echo "write /bootmgr \"phony boot manager\""
        echo "mkdir /Boot"
        echo "write /Boot/BCD \"phony BCD\""
        echo "umount /"
        c=${d}2 ;;
    gpt)
        echo "part-init $d gpt"
        echo "part-add $d p 2048 67583"
        echo "part-add $d p 67584 100351"
        echo "part-add $d p 100352 522239"
        echo "part-set-gpt-type $d 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        echo "part-set-gpt-type $d 2 E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
        echo "part-set-gpt-type $d 3 EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        echo "part-set-gpt-guid $d 3 $WIN_C_GUID"
        echo "mkfs vfat ${d}1"
        echo "mkfs ntfs ${d}3"
        echo "mount ${d}1 /"
        echo "mkdir-p /EFI/Microsoft/Boot"
        echo "write /EFI/Microsoft/Boot/bootmgfw.efi \"phony Windows boot manager\""
        echo "write /EFI/Microsoft/Boot/BCD \"phony BCD\""
        echo "umount /"
        c=${d}3 ;;
    esac
    echo "mount $c /"
    echo "mkdir-p /Windows/System32/config"
    echo "mkdir-p /Windows/System32/drivers"
    echo "mkdir-p /Windows/inf"
    echo "mkdir-p \"/Program Files\""
    echo "mkdir-p /Users"
    echo "upload $sw /Windows/System32/config/SOFTWARE"
    echo "upload $sys /Windows/System32/config/SYSTEM"
    echo "upload $cmd /Windows/System32/cmd.exe"
    echo "write /Windows/System32/drivers/msahci.sys \"in-box msahci\""
    echo "write /Windows/System32/drivers/storahci.sys \"in-box storahci\""
    echo "write /Windows/System32/drivers/lsi_sas.sys \"in-box lsi_sas\""
    for c in "$@"; do echo "$c"; done
    echo "umount /"
}

guest__build_windows() {
    local out=$1 w
    w=$(mktemp -d "${TMPDIR:-/tmp}/p2v-wguest.XXXXXX")
    local hive=$P2V_SHARED_DIR/testdata/windows/minimal-hive
    [ -f "$hive" ] || { echo "windows-guests: no $hive" >&2; return 1; }
    win__mkexe x86_64-w64-mingw32-gcc "$w/cmd64.exe" && win__mkexe i686-w64-mingw32-gcc "$w/cmd32.exe" ||
        { rm -rf "$w"; return 1; }
    # MountedDevices: MBR disk signature + partition offset; GPT "DMIO:ID:" + partition GUID.
    local mbr_c='78,56,34,12,00,00,10,02,00,00,00,00'
    local gpt_c='44,4d,49,4f,3a,49,44,3a,67,45,23,01,ab,89,ef,cd,01,23,45,67,89,ab,cd,ef'
    mkhive() {    # NAME PREFIX-KEY REG-TEXT-FUNCTION ARGS...
        local name=$1 prefix=$2
        shift 2
        cp "$hive" "$w/$name" && chmod u+w "$w/$name"
        "$@" | win__reg_parents "$prefix" >"$w/$name.reg"
        hivexregedit --merge --prefix "$prefix" "$w/$name" "$w/$name.reg"
    }
    local SW='HKEY_LOCAL_MACHINE\SOFTWARE' SY='HKEY_LOCAL_MACHINE\SYSTEM'
    mkhive sw-2k8r2 "$SW" win__software_reg "Windows Server 2008 R2 Standard" 6.1 6 1 7601 &&
    mkhive sw-2k22 "$SW" win__software_reg "Windows Server 2022 Standard" 6.3 10 0 20348 risky &&
    mkhive sw-2k3 "$SW" win__software_reg "Microsoft Windows Server 2003" 5.2 5 2 3790 &&
    mkhive sy-2k8r2 "$SY" win__system_reg 2 2 W2K8R2-SRV 0 "$mbr_c" &&
    mkhive sy-select "$SY" win__system_reg 2 1 W2K8R2-SRV 0 "$mbr_c" &&
    mkhive sy-2k22 "$SY" win__system_reg 1 1 W2K22-SRV 1 "$gpt_c" || { rm -rf "$w"; return 1; }

    local names=(2k8r2 2k22 32bit 2k3 hibernated select full) n script=$w/build.fish
    local letters=(a b c d e f g)
    : >"$script"
    for n in "${names[@]}"; do
        truncate -s 256M "$out/$n.raw"
        echo "add-drive $out/$n.raw format:raw" >>"$script"
    done
    echo run >>"$script"
    {
        win__image_script /dev/sda mbr "$w/sw-2k8r2" "$w/sy-2k8r2" "$w/cmd64.exe"
        win__image_script /dev/sdb gpt "$w/sw-2k22" "$w/sy-2k22" "$w/cmd64.exe"
        win__image_script /dev/sdc gpt "$w/sw-2k22" "$w/sy-2k22" "$w/cmd32.exe"
        win__image_script /dev/sdd mbr "$w/sw-2k3" "$w/sy-2k8r2" "$w/cmd64.exe"
        win__image_script /dev/sde mbr "$w/sw-2k8r2" "$w/sy-2k8r2" "$w/cmd64.exe" \
            'write /hiberfil.sys "HIBR phony hibernation image"'
        win__image_script /dev/sdf mbr "$w/sw-2k8r2" "$w/sy-select" "$w/cmd64.exe"
        win__image_script /dev/sdg small "$w/sw-2k8r2" "$w/sy-2k8r2" "$w/cmd64.exe" \
            'fallocate64 /pagefile.sys 62914560'
    } >>"$script"
    echo "windows-guests: ${#names[@]} images with guestfish (libguestfs, TCG)" >&2
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish -f "$script" >&2 ||
        { rm -rf "$w"; return 1; }
    # The MBR disk signature MountedDevices names (0x12345678).
    for n in 2k8r2 2k3 hibernated select full; do
        printf '\x78\x56\x34\x12' | dd of="$out/$n.raw" bs=1 seek=440 conv=notrunc status=none
    done
    # Byte edits of 2k8r2 copies: BitLocker's signature at byte 3 of the
    # System Reserved partition; its MBR type byte (446 + 4) as 0x42 (LDM).
    cp --sparse=always "$out/2k8r2.raw" "$out/bitlocker.raw"
    printf -- '-FVE-FS-' | dd of="$out/bitlocker.raw" bs=1 seek=$((2048 * 512 + 3)) conv=notrunc status=none
    cp --sparse=always "$out/2k8r2.raw" "$out/dynamic.raw"
    printf '\x42' | dd of="$out/dynamic.raw" bs=1 seek=450 conv=notrunc status=none
    rm -rf "$w"
}
