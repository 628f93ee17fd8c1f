# wine for the tests of the Windows programs.  Source after functions.sh.
#   wine_setup          a WINEPREFIX of this test's own under $TEST_DIR,
#                       from a ready prefix cached under $P2V_TEST_CACHE
#                       (the first wineboot takes a while; later tests
#                       hard-link it), one persistent wineserver, killed at
#                       exit; WINEDEBUG=-all.  Skips without wine.
#   wine_run ARGS...    wine64 ARGS (the 64-bit loader: Debian's wine
#                       wrapper asks for wine32, which we do not need)
#   wine_reboot         stop the wineserver and every wine process, start
#                       a new one: the next wine process starts the
#                       service manager, which starts auto-start services
#   wine_com1 FILE      what Windows programs write to COM1 from the next
#                       boot on goes to FILE (a pty read in the background;
#                       wine's Ports key points COM1 at it)
#   FIRSTBOOT_EXE       the built p2v-firstboot.exe (skip when missing)

: "${P2V_TEST_CACHE:=/var/cache/p2v-test}"
FIRSTBOOT_EXE=$P2V_BUILD_DIR/share/p2v/p2v-firstboot.exe

wine__loader() {
    local w
    for w in /usr/lib/wine/wine64 "$(command -v wine64 2>/dev/null)"; do
        [ -n "$w" ] && [ -x "$w" ] && { echo "$w"; return 0; }
    done
    return 1
}

# wine__cached_prefix: the cached prefix's path, made under a lock once
# per wine version.
wine__cached_prefix() {
    local version key out
    version=$("$WINELOADER" --version 2>/dev/null) || return 1
    key=$(echo "$version" | sha256sum | cut -c1-16)
    mkdir -p "$P2V_TEST_CACHE"
    out=$P2V_TEST_CACHE/wineprefix-$key
    (
        flock -x 9
        if [ ! -e "$out/.p2v-ready" ]; then
            rm -rf "$out.part"
            local t0=$SECONDS
            # No Mono or Gecko prompts: nothing here needs them.
            WINEPREFIX=$out.part WINEDLLOVERRIDES="mscoree,mshtml=" \
                "$WINELOADER" wineboot -i >&2 || { rm -rf "$out.part"; exit 1; }
            WINEPREFIX=$out.part "$WINESERVER" -w
            touch "$out.part/.p2v-ready"
            rm -rf "$out"
            mv "$out.part" "$out"
            find "$P2V_TEST_CACHE" -maxdepth 1 -name "wineprefix-*" ! -path "$out" \
                -exec rm -rf {} + 2>/dev/null
            echo "wine-helpers: made a wine prefix in $((SECONDS - t0)) s" >&2
        fi
    ) 9>"$P2V_TEST_CACHE/wineprefix.lock" || return 1
    echo "$out"
}

wine_setup() {
    WINELOADER=$(wine__loader) || skip "wine64 is not installed (scripts/install-deps installs wine)"
    WINESERVER=$(dirname "$WINELOADER")/wineserver
    [ -x "$WINESERVER" ] || WINESERVER=$(command -v wineserver) || skip "no wineserver"
    [ -f "$FIRSTBOOT_EXE" ] || skip "no $FIRSTBOOT_EXE (mingw-w64 missing at build time?)"
    export WINELOADER WINESERVER WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    local cached
    cached=$(wine__cached_prefix) || fail "cannot make a wine prefix"
    export WINEPREFIX=$TEST_DIR/wineprefix
    # Hard links for the big read-only part; the registry, which wine
    # rewrites, as copies (the cache stays as made).
    cp -al "$cached" "$WINEPREFIX" 2>/dev/null || cp -a "$cached" "$WINEPREFIX"
    local f
    for f in "$WINEPREFIX"/*.reg "$WINEPREFIX"/.update-timestamp; do
        [ -f "$f" ] || continue
        rm -f "$f" && cp -p "$cached/$(basename "$f")" "$f"
    done
    "$WINESERVER" -p
    cleanup wine__stop
}

wine__stop() {
    "$WINESERVER" -k 2>/dev/null
    "$WINESERVER" -w 2>/dev/null
    return 0
}

wine_run() { "$WINELOADER" "$@"; }

wine_reboot() {
    "$WINESERVER" -k 2>/dev/null || true
    "$WINESERVER" -w 2>/dev/null || true
    "$WINESERVER" -p
}

wine_com1() {
    local out=$1 link=$TEST_DIR/com1
    : > "$out"
    "$PYTHON" - "$link" "$out" <<'PY' &
import os, pty, select, sys, time, tty
master, slave = pty.openpty()
tty.setraw(slave)
os.symlink(os.ttyname(slave), sys.argv[1])
with open(sys.argv[2], "ab") as out:
    end = time.time() + 300          # bounded, and killed at the test's end
    while time.time() < end:
        if select.select([master], [], [], 0.2)[0]:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            out.write(data)
            out.flush()
PY
    WINE_COM1_PID=$!
    cleanup wine__stop_com1
    local i
    for ((i = 0; i < 50; i++)); do [ -L "$link" ] && break; sleep 0.1; done
    [ -L "$link" ] || fail "no pty for COM1"
    printf 'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\Software\\Wine\\Ports]\r\n"COM1"="%s"\r\n' \
        "$link" > "$TEST_DIR/ports.reg"
    wine_run regedit /S "$(wine_run winepath -w "$TEST_DIR/ports.reg" 2>/dev/null)" ||
        fail "cannot point wine's COM1 at $link"
}

wine__stop_com1() { kill "$WINE_COM1_PID" 2>/dev/null; wait "$WINE_COM1_PID" 2>/dev/null; return 0; }
