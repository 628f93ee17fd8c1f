#!/bin/bash
# labels: slow
# p2v-agent builds alone, on a machine without the converter's libraries:
# configure a scratch build with every other component off while
# pkg-config cannot see libguestfs, libnbd or libarchive, build the
# p2v-agent target, and run it.  (Slow: a fresh build of common/ on two
# shared cores takes over a minute.)
source "$(dirname "$0")/functions.sh"
requires cmake pkg-config

# Every .pc file pkg-config finds, but those three, in a scratch folder
# that becomes pkg-config's whole search path.
pc=$TEST_DIR/pkgconfig
mkdir -p "$pc"
IFS=: read -r -a dirs <<< "$(pkg-config --variable pc_path pkg-config)"
for d in "${dirs[@]}"; do
    for f in "$d"/*.pc; do
        [ -e "$f" ] || continue
        case $(basename "$f") in
            libguestfs.pc|libnbd.pc|libarchive.pc) continue ;;
        esac
        [ -e "$pc/$(basename "$f")" ] || ln -s "$f" "$pc/"
    done
done
export PKG_CONFIG_PATH=$pc PKG_CONFIG_LIBDIR=$pc
for m in libguestfs libnbd libarchive; do
    ! pkg-config --exists "$m" || fail "$m is still visible to pkg-config"
done
pkg-config --exists gnutls || fail "gnutls should stay visible"

# The hiding works: a configure that wants the converter fails.
cmake -S "$P2V_SOURCE_DIR" -B "$TEST_DIR/full" > "$TEST_DIR/full.log" 2>&1 &&
    fail "configure with the converter succeeded without libguestfs, libnbd, libarchive"
grep -qE "libnbd|libguestfs|libarchive" "$TEST_DIR/full.log" ||
    fail "the failed configure does not name a hidden library: $(tail -5 "$TEST_DIR/full.log")"

build=$TEST_DIR/build
cmake -S "$P2V_SOURCE_DIR" -B "$build" -DP2V_WERROR=ON \
      -DP2V_BUILD_LIVE=OFF -DP2V_BUILD_CONVERTER=OFF -DP2V_BUILD_DRIVERS=OFF \
      > "$TEST_DIR/configure.log" 2>&1 ||
    fail "agent-only configure failed: $(tail -20 "$TEST_DIR/configure.log")"
cmake --build "$build" --target p2v-agent -j2 > "$TEST_DIR/build.log" 2>&1 ||
    fail "agent-only build failed: $(tail -20 "$TEST_DIR/build.log")"
[ -x "$build/p2v-agent/p2v-agent" ] || fail "no p2v-agent in the agent-only build"
for t in converter/p2v-convert drivers-inject/p2v-drivers p2v-live/p2v-live; do
    [ ! -e "$build/$t" ] || fail "$t was built with its component off"
done
"$build/p2v-agent/p2v-agent" --help > "$TEST_DIR/help" || fail "p2v-agent --help failed"
grep -q "^Usage: p2v-agent" "$TEST_DIR/help" || fail "p2v-agent --help: $(head -3 "$TEST_DIR/help")"
pass "p2v-agent configures and builds without libguestfs, libnbd and libarchive"
