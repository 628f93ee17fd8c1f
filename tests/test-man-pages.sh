#!/usr/bin/env bash
# What users see of every program: `cmake --install` puts one man page per
# program where man looks (share/man/man1, man8), man renders each with a
# NAME line whatis reads and no markdown left; -V/--version prints
# "PROGRAM VERSION" and exits 0; --help ends with the line naming the page.
source "$(dirname "$0")/functions.sh"
requires cmake man lexgrog

version=$(sed -n 's/^project(p2v VERSION \([0-9.]*\).*/\1/p' "$P2V_SOURCE_DIR/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
! grep -q '^P2V_BUILD_MAN:BOOL=OFF' "$P2V_BUILD_DIR/CMakeCache.txt" || skip "configured with -DP2V_BUILD_MAN=OFF"

prefix=$TEST_DIR/prefix
cmake --install "$P2V_BUILD_DIR" --prefix "$prefix" >"$TEST_DIR/install.log" 2>&1 ||
    { cat "$TEST_DIR/install.log" >&2; fail "cmake --install failed"; }

declare -A programs=(
    [p2v-agent]="1 p2v-agent/p2v-agent"
    [p2v-convert]="1 converter/p2v-convert"
    [p2v-drivers]="1 drivers-inject/p2v-drivers"
    [p2v-live]="8 p2v-live/p2v-live"
)
for name in "${!programs[@]}"; do
    read -r section binary <<<"${programs[$name]}"
    page=$prefix/share/man/man$section/$name.$section
    [ -f "$page" ] || fail "$name($section) is not installed as $page"

    # whatis reads "NAME - summary" from the NAME section.
    lexgrog "$page" >"$TEST_DIR/lexgrog" || fail "lexgrog finds no NAME line in $page"
    grep -q "^$page: \"$name - [a-z]" "$TEST_DIR/lexgrog" ||
        { cat "$TEST_DIR/lexgrog" >&2; fail "$name($section): the NAME line is not '$name - summary'"; }

    MANWIDTH=80 man -l "$page" >"$TEST_DIR/$name.txt" 2>"$TEST_DIR/$name.err" ||
        { cat "$TEST_DIR/$name.err" >&2; fail "man -l $page failed"; }
    head -1 "$TEST_DIR/$name.txt" | grep -q "^$name($section) " ||
        fail "$name($section): the header line is '$(head -1 "$TEST_DIR/$name.txt")'"
    grep -A1 '^NAME$' "$TEST_DIR/$name.txt" | grep -Eq "^ *$name +- " ||
        fail "$name($section): the rendered NAME section does not start with '$name - '"
    for heading in SYNOPSIS DESCRIPTION; do
        grep -q "^$heading$" "$TEST_DIR/$name.txt" || fail "$name($section) has no $heading section"
    done
    # No markdown left: code fences, table rules, headings, links.
    if grep -nE '```|\|[ :]*---|^ *#{1,4} |\]\(' "$TEST_DIR/$name.txt" >"$TEST_DIR/raw"; then
        cat "$TEST_DIR/raw" >&2
        fail "$name($section) shows raw markdown"
    fi

    # -V and --version: "PROGRAM VERSION", exit 0, nothing on stderr.
    for opt in -V --version; do
        out=$("$P2V_BUILD_DIR/$binary" "$opt" 2>"$TEST_DIR/version.err") ||
            fail "$name $opt exits $?"
        [ "$out" = "$name $version" ] || fail "$name $opt prints '$out', not '$name $version'"
        [ ! -s "$TEST_DIR/version.err" ] || fail "$name $opt writes to stderr"
    done

    # --help ends pointing at the page.
    "$P2V_BUILD_DIR/$binary" --help >"$TEST_DIR/help" || fail "$name --help exits $?"
    tail -1 "$TEST_DIR/help" | grep -q "See 'man $section $name'" ||
        fail "$name --help does not end with the line naming man page $name($section)"
    pass "$name($section): installed, rendered, -V/--version, --help"
done

# Subcommands' --help name the page too.
for cmd in "p2v-agent/p2v-agent serve" "p2v-agent/p2v-agent survey" \
           "converter/p2v-convert copy" "converter/p2v-convert run"; do
    # shellcheck disable=SC2086
    "$P2V_BUILD_DIR/"$cmd --help | tail -1 | grep -q "See 'man 1 p2v-" ||
        fail "'${cmd#*/} --help' does not end naming its man page"
done
pass "subcommands' --help name the man page"
