#!/bin/bash
# p2v-firstboot.exe as a Windows service under wine: (1) created and
# started with sc, it runs its script and removes itself (sc query fails
# afterwards); (2) registered with the registry values the converter
# writes (Services\p2v-firstboot: Type 0x10, Start 2, ImagePath quoted ...),
# it starts by itself at "boot" (a new wineserver), keeps itself while a
# script still fails, runs it again at the next boot, then removes itself;
# COM1 (a pty) gets the lines the boot test waits for.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/wine-helpers.sh"
wine_setup

dir=$WINEPREFIX/drive_c/Program\ Files/p2v
crlf() { sed 's/$/\r/' > "$1"; }
install_firstboot() {
    rm -rf "$dir"
    mkdir -p "$dir/firstboot"
    cp "$FIRSTBOOT_EXE" "$dir/"
}
sc() { wine_run sc "$@" > "$TEST_DIR/sc.out" 2>&1; }
# wait_log N: until the log has N "done" lines (the run has ended).
wait_log() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(grep -c "p2v-firstboot: done" "$dir/firstboot.log" 2>/dev/null || true)" -ge "$1" ] && return 0
        sleep 0.1
    done
    cat "$dir/firstboot.log" >&2 2>/dev/null
    fail "p2v-firstboot did not finish run $1 in 30 s"
}
# wait_gone: until sc query says the service does not exist.
wait_gone() {
    local i
    for ((i = 0; i < 40; i++)); do
        sc query p2v-firstboot || return 0
        sleep 0.2
    done
    fail "the service p2v-firstboot is still registered: $(cat "$TEST_DIR/sc.out")"
}

# (1) sc create / start.
install_firstboot
crlf "$dir/firstboot/0001-mark.cmd" <<'CMD'
@echo off
echo ran as a service> ..\mark.txt
CMD
sc create p2v-firstboot 'binPath=' '"C:\Program Files\p2v\p2v-firstboot.exe"' 'start=' auto 'type=' own ||
    fail "sc create: $(cat "$TEST_DIR/sc.out")"
sc query p2v-firstboot || fail "sc query after create: $(cat "$TEST_DIR/sc.out")"
sc start p2v-firstboot || fail "sc start: $(cat "$TEST_DIR/sc.out")"
wait_log 1
wait_gone
grep -q "ran as a service" "$dir/mark.txt" || fail "the script did not run"
[ -f "$dir/firstboot/done/0001-mark.cmd" ] || fail "the script is not in done\\"
grep -q "service p2v-firstboot removed" "$dir/firstboot.log" || fail "no removal in the log"

# (2) the converter's registry entries, started at boot.
install_firstboot
crlf "$dir/firstboot/0001-once-bad.cmd" <<'CMD'
@echo off
echo run>> ..\runs.txt
if exist ..\failed-once exit /b 0
echo x> ..\failed-once
exit /b 3
CMD
crlf "$TEST_DIR/service.reg" <<'REG'
Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\System\CurrentControlSet\Services\p2v-firstboot]
"Type"=dword:00000010
"Start"=dword:00000002
"ErrorControl"=dword:00000001
"ImagePath"="\"C:\\Program Files\\p2v\\p2v-firstboot.exe\""
"ObjectName"="LocalSystem"
"DisplayName"="p2v first boot"
"Description"="Runs the scripts of the p2v conversion once, at first boot"
REG
wine_run regedit /S "$(wine_run winepath -w "$TEST_DIR/service.reg" 2>/dev/null)" ||
    fail "regedit could not import the service's entries"
wine_com1 "$TEST_DIR/com1.txt"   # what the converter's boot test reads
wine_reboot
sc query p2v-firstboot || fail "the registered service is unknown: $(cat "$TEST_DIR/sc.out")"
wait_log 1                      # it started by itself
grep -q "0001-once-bad.cmd: exit code 3" "$dir/firstboot.log" || fail "first boot: no exit code 3"
sleep 0.5
sc query p2v-firstboot || fail "the service removed itself with a script left to retry"
wine_reboot
sc query p2v-firstboot >/dev/null || true     # starts the service manager
wait_log 2
wait_gone
[ "$(grep -c run "$dir/runs.txt")" -eq 2 ] || fail "the script ran $(grep -c run "$dir/runs.txt") times, expected 2"
[ -f "$dir/firstboot/done/0001-once-bad.cmd" ] || fail "the retried script is not in done\\"
sleep 0.3
com1=$(tr -d '\r' < "$TEST_DIR/com1.txt")
expected_com1="p2v-firstboot: started
p2v-firstboot: 0001-once-bad.cmd failed (exit code 3), attempt 1 of 3
p2v-firstboot: done
p2v-firstboot: started
p2v-firstboot: done"
[ "$com1" = "$expected_com1" ] || fail "COM1 says: $com1"
pass "p2v-firstboot: sc start and boot start, retry at the next boot, self-removal"
