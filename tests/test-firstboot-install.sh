#!/bin/bash
# The converter's side of the first-boot service (guest/windows/firstboot.c)
# on an NTFS image and a SYSTEM hive with Select\Current=2: two conversions
# in a row.  Checked with ntfs-3g's ntfsls/ntfscat and hivex's tools: the
# exe (byte for byte) and CRLF scripts in C:\PROGRAM FILES\P2V (the folders
# found whatever their case), numbered after the scripts already there
# (done\0007), the same waiting script not added twice; Services\p2v-firstboot
# in ControlSet002 only, its values once each.  Then under wine: the files
# and the registry key exported from that hive (into CurrentControlSet) make
# a service that starts at boot, runs the scripts in order, removes itself.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
requires mkntfs ntfsls ntfscat hivexget hivexregedit
tool=$P2V_BUILD_DIR/tests/firstboot-install
[ -x "$tool" ] || skip "no $tool"
export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
wine_setup                      # skips early when wine or the exe is missing

# Without p2v-firstboot.exe (a build without mingw-w64) a Windows guest is
# refused with one line, before anything is written.
mkdir -p "$TEST_DIR/bin"
cp "$tool" "$TEST_DIR/bin/"
if [ ! -e /usr/share/p2v/p2v-firstboot.exe ] && [ ! -e /usr/local/share/p2v/p2v-firstboot.exe ]; then
    expect_error "^firstboot-install: cannot convert a Windows guest: the first-boot service p2v-firstboot\.exe is missing \(share/p2v/ beside p2v-convert\): build p2v with mingw-w64 \(x86_64-w64-mingw32-gcc\) installed$" \
        "$TEST_DIR/bin/firstboot-install" --preflight-only
fi
"$tool" --preflight-only || fail "the build tree's share/p2v/p2v-firstboot.exe was not found"
expect_error "^firstboot-install: cannot read the first-boot service $TEST_DIR/none\.exe: No such file or directory$" \
    "$tool" --exe "$TEST_DIR/none.exe" --preflight-only
echo "not a program" > "$TEST_DIR/text.exe"
expect_error "is not a Windows program" "$tool" --exe "$TEST_DIR/text.exe" --preflight-only

img=$TEST_DIR/c.img
truncate -s 64M "$img"
mkntfs -F -f -q -L C "$img" >/dev/null 2>&1 || fail "mkntfs failed"
hive=$TEST_DIR/SYSTEM
cp "$P2V_SHARED_DIR/testdata/windows/minimal-hive" "$hive"
chmod u+w "$hive"
sed 's/$/\r/' > "$TEST_DIR/system.reg" <<'REG'
Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000002
"Default"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip]
"Start"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip]
"Start"=dword:00000001
REG
hivexregedit --merge --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$hive" "$TEST_DIR/system.reg" ||
    fail "cannot make the test hive"

base='/PROGRAM FILES/P2V'
timeout 300 "$tool" --exe "$FIRSTBOOT_EXE" \
    --mkdir "$base/FIRSTBOOT/Done" --write "$base/FIRSTBOOT/Done/0007-old.cmd=echo old" \
    "$img" "$hive" \
    'marker=echo converted> ..\marker.txt,second=echo second>> ..\marker.txt' \
    'marker=echo converted> ..\marker.txt,third=echo third>> ..\marker.txt' \
    > "$TEST_DIR/changes" 2> "$TEST_DIR/tool.err" ||
    fail "firstboot-install failed: $(cat "$TEST_DIR/tool.err")"

# The changes reported, per conversion.
expected="firstboot|$base/p2v-firstboot.exe|the first-boot service p2v-firstboot (from $FIRSTBOOT_EXE)
firstboot|$base/FIRSTBOOT/0008-marker.cmd|runs once at first boot: marker
firstboot|$base/FIRSTBOOT/0009-second.cmd|runs once at first boot: second
firstboot|HKLM\\SYSTEM\\ControlSet002\\Services\\p2v-firstboot|service p2v-firstboot registered: automatic start, LocalSystem, ImagePath \"C:\\PROGRAM FILES\\P2V\\p2v-firstboot.exe\"
--
firstboot|$base/FIRSTBOOT/0010-third.cmd|runs once at first boot: third
--"
[ "$(cat "$TEST_DIR/changes")" = "$expected" ] ||
    { diff <(echo "$expected") "$TEST_DIR/changes" >&2; fail "the changes reported differ"; }

# The files, read with ntfs-3g.
ls_ntfs() { ntfsls -p "$1" "$img" | grep -vxE '\.|\.\.' | sort | tr '\n' ' '; }
listing=$(ls_ntfs "$base/FIRSTBOOT")
[ "$listing" = "0008-marker.cmd 0009-second.cmd 0010-third.cmd Done " ] ||
    fail "C:$base\\FIRSTBOOT holds: $listing"
[ "$(ls_ntfs "$base")" = "FIRSTBOOT p2v-firstboot.exe " ] || fail "C:$base holds: $(ls_ntfs "$base")"
ntfscat "$img" "$base/p2v-firstboot.exe" | cmp - "$FIRSTBOOT_EXE" ||
    fail "the exe in the guest differs from $FIRSTBOOT_EXE"
printf 'echo converted> ..\\marker.txt\r\n' | cmp - <(ntfscat "$img" "$base/FIRSTBOOT/0008-marker.cmd") ||
    fail "0008-marker.cmd is not the script with CRLF: $(ntfscat "$img" "$base/FIRSTBOOT/0008-marker.cmd" | od -c | head -3)"

# The registry, read with hivex.
key='ControlSet002\Services\p2v-firstboot'
value() { hivexget "$hive" "$key" "$1" || fail "no value $1 in $key"; }
[ "$(value Type)" = 16 ] || fail "Type: $(value Type)"
[ "$(value Start)" = 2 ] || fail "Start: $(value Start)"
[ "$(value ErrorControl)" = 1 ] || fail "ErrorControl: $(value ErrorControl)"
[ "$(value ImagePath)" = '"C:\PROGRAM FILES\P2V\p2v-firstboot.exe"' ] || fail "ImagePath: $(value ImagePath)"
[ "$(value ObjectName)" = LocalSystem ] || fail "ObjectName: $(value ObjectName)"
hivexregedit --export "$hive" "$key" > "$TEST_DIR/key.reg" || fail "cannot export $key"
grep -q '^"ImagePath"=hex(2):' "$TEST_DIR/key.reg" || fail "ImagePath is not REG_EXPAND_SZ"
[ "$(grep -c '^"' "$TEST_DIR/key.reg")" -eq 7 ] || fail "$key has not exactly 7 values: $(cat "$TEST_DIR/key.reg")"
! hivexget "$hive" 'ControlSet001\Services\p2v-firstboot' Type >/dev/null 2>&1 ||
    fail "the service was registered in ControlSet001, not the current set"
[ "$(hivexget "$hive" 'ControlSet002\Services\Tcpip' Start)" = 1 ] || fail "the hive's other keys changed"

# What the guest would do with it: the service under wine.
dir=$WINEPREFIX/drive_c/Program\ Files/p2v
mkdir -p "$dir/firstboot"
ntfscat "$img" "$base/p2v-firstboot.exe" > "$dir/p2v-firstboot.exe"
for f in 0008-marker.cmd 0009-second.cmd 0010-third.cmd; do
    ntfscat "$img" "$base/FIRSTBOOT/$f" > "$dir/firstboot/$f"
done
# UTF-16 with a BOM, as regedit writes them: wine reads the hex(1)/hex(2)
# strings of an 8-bit file as 8-bit text.
{ printf '\xff\xfe'
  hivexregedit --export --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$hive" "$key" |
      sed 's/\\ControlSet002\\/\\CurrentControlSet\\/' | iconv -f UTF-8 -t UTF-16LE
} > "$TEST_DIR/service.reg"
wine_run regedit /S "$(wine_run winepath -w "$TEST_DIR/service.reg" 2>/dev/null)" ||
    fail "wine's regedit refused the exported key"
wine_reboot
wine_run sc query p2v-firstboot > /dev/null 2>&1 || true   # starts the service manager
for ((i = 0; i < 300; i++)); do
    grep -q "p2v-firstboot: done" "$dir/firstboot.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "p2v-firstboot: done" "$dir/firstboot.log" 2>/dev/null ||
    fail "the registered service did not run at boot: $(wine_run sc query p2v-firstboot 2>&1)"
[ "$(tr -d '\r' < "$dir/marker.txt" | tr '\n' ' ')" = "converted second third " ] ||
    fail "the scripts did not run in order: $(cat "$dir/marker.txt")"
for ((i = 0; i < 50; i++)); do
    wine_run sc query p2v-firstboot > /dev/null 2>&1 || break
    sleep 0.2
done
! wine_run sc query p2v-firstboot > /dev/null 2>&1 || fail "the service did not remove itself"
pass "first-boot install: files, numbering, registry (current set), idempotent; runs under wine"
