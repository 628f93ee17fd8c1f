#!/bin/sh
# Turn a docs/ page into a man page: md2man.sh PAGE.md OUT TITLE SECTION VERSION
# The page's "# TITLE(SECTION)" line becomes the .TH header, "## X" headings
# become sections (upper case, as man pages have them), "### X" subsections,
# and the NAME paragraph gets the "TITLE \- summary" form whatis reads.
# Needs lowdown (Debian package lowdown).  GPL-3.0-or-later.
set -eu
[ $# -eq 5 ] || { echo "usage: md2man.sh PAGE.md OUT TITLE SECTION VERSION" >&2; exit 2; }
in=$1 out=$2 title=$3 section=$4 version=$5
lowdown=${LOWDOWN:-lowdown}
tmp=$out.tmp
trap 'rm -f "$tmp"' EXIT

awk '
    BEGIN { fence = 0; first = 1 }
    # The page title is the .TH header, not a section.
    first && /^# / { first = 0; next }
    { first = 0 }
    /^[ \t]*(```|~~~)/ { fence = !fence; print; next }
    fence { print; next }
    /^##+ / {
        sub(/^#/, "")
        if ($0 ~ /^# /) $0 = toupper($0)
        section = $0
        print
        next
    }
    # whatis and apropos read "NAME - summary" (an em dash they do not).
    section == "# NAME" && NF { sub(" — ", " - ") }
    { print }
' "$in" |
"$lowdown" -s -Tman --nroff-nolinks \
    -M "title=$title" -M "section=$section" -M "source=p2v $version" \
    -M "date=" >"$tmp"

# The NAME line's hyphen as the roff minus man pages use; a page with
# tables tells man to run tbl first.
awk '
    NR == 1 && tbl { printf "%c\\\" t\n", 39 }
    prev_name && /^[^.]/ { sub(" - ", " \\- "); prev_name = 0 }
    /^NAME$/ { prev_name = 1 }
    { print }
' tbl="$(grep -c '^\.TS' "$tmp" || true)" "$tmp" >"$out.new"
mv "$out.new" "$out"
