#!/bin/bash
# The Windows build: p2v-firstboot.exe is in the build tree's share/p2v/,
# a PE32+ x86-64 program importing only Windows' own DLLs (static: no
# libgcc, libwinpthread); and the tree configured with the mingw-w64
# toolchain file builds the Windows programs alone, warnings as errors;
# -DP2V_BUILD_WINDOWS=OFF configures the converter without them.
source "$(dirname "$0")/functions.sh"
requires x86_64-w64-mingw32-gcc x86_64-w64-mingw32-objdump cmake
exe=$P2V_BUILD_DIR/share/p2v/p2v-firstboot.exe
[ -f "$exe" ] || fail "no $exe: the native build did not build the Windows programs"

check_exe() {
    x86_64-w64-mingw32-objdump -f "$1" | grep -q "file format pei-x86-64" ||
        fail "$1 is not a PE32+ x86-64 program"
    local dlls bad
    dlls=$(x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort)
    [ -n "$dlls" ] || fail "$1 imports no DLL at all?"
    bad=$(echo "$dlls" | grep -vxE 'kernel32\.dll|advapi32\.dll|msvcrt\.dll' || true)
    [ -z "$bad" ] || fail "$1 imports DLLs that are not Windows' own: $bad"
}
check_exe "$exe"
# The native build's Windows sub-build follows its P2V_WERROR.
parent=$(sed -n 's/^P2V_WERROR:BOOL=//p' "$P2V_BUILD_DIR/CMakeCache.txt")
sub=$(sed -n 's/^P2V_WERROR:[A-Z]*=//p' "$P2V_BUILD_DIR/windows/CMakeCache.txt")
[ "$parent" = "$sub" ] || fail "P2V_WERROR is $parent in the build, $sub in its Windows build"

build=$TEST_DIR/win
cmake -S "$P2V_SOURCE_DIR" -B "$build" -DP2V_WERROR=ON \
      -DCMAKE_TOOLCHAIN_FILE="$P2V_SOURCE_DIR/cmake/mingw-w64-x86_64.cmake" \
      > "$TEST_DIR/configure.log" 2>&1 || fail "Windows configure failed: $(tail -20 "$TEST_DIR/configure.log")"
cmake --build "$build" -j2 > "$TEST_DIR/build.log" 2>&1 || fail "Windows build failed: $(tail -20 "$TEST_DIR/build.log")"
grep -q -- "-Werror" "$TEST_DIR/build.log" "$build/compile_commands.json" ||
    fail "the Windows build does not treat warnings as errors"
[ -f "$build/firstboot/p2v-firstboot.exe" ] || fail "no firstboot/p2v-firstboot.exe in the Windows build"
check_exe "$build/firstboot/p2v-firstboot.exe"
[ ! -e "$build/converter" ] && [ ! -e "$build/common" ] || fail "the Windows build built native folders"

off=$TEST_DIR/off
cmake -S "$P2V_SOURCE_DIR" -B "$off" -DP2V_BUILD_WINDOWS=OFF -DP2V_BUILD_MAN=OFF \
      > "$TEST_DIR/off.log" 2>&1 || fail "configure with P2V_BUILD_WINDOWS=OFF failed: $(tail -20 "$TEST_DIR/off.log")"
cmake --build "$off" --target help > "$TEST_DIR/targets" || fail "no target list"
grep -q "p2v-convert" "$TEST_DIR/targets" || fail "P2V_BUILD_WINDOWS=OFF lost the converter"
! grep -q "p2v-windows" "$TEST_DIR/targets" || fail "P2V_BUILD_WINDOWS=OFF still builds the Windows programs"
pass "p2v-firstboot.exe: PE32+, Windows DLLs only; the Windows tree builds alone; OFF switches it off"
