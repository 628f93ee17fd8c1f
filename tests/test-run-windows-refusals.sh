#!/bin/bash
# p2v-convert run refuses Windows guests it cannot convert, before the
# copy, with one error line and nothing but the report in the output
# folder: 32-bit Windows and Server 2003 at inspection (exit 11); a
# hibernated Windows and Select\Current different from Default in the
# converter's preflight (exit 12).  (test-run-windows-disk: the disk
# refusals; test-run-windows-fallback: no drivers.)
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget jq x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc

guest_windows 2k8r2 >/dev/null || fail "cannot build the phony Windows guests"

refuse 32bit 11 'for i386: only 64-bit \(x86_64\) Windows can be converted'
refuse 2k3 11 'Windows NT 5\.2\): Windows older than 7 and Server 2008 R2 cannot be converted'
refuse hibernated 12 'is hibernated \(hiberfil\.sys holds a hibernation image\)'
refuse select 12 'boots ControlSet002 but its default is ControlSet001'
