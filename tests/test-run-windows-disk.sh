#!/bin/bash
# p2v-convert run refuses, in the Windows converter's preflight (exit 12,
# one error line, only the report in the output folder, no copy): less
# than 100 MiB free on C:, BitLocker (-FVE-FS- at byte 3 of the System
# Reserved partition) and a dynamic disk (its MBR type 0x42).
# labels: slow
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/convert-helpers.sh"
source "$(dirname "$0")/guest-helpers.sh"
source "$(dirname "$0")/run-helpers.sh"
source "$(dirname "$0")/windows-guests.sh"
source "$(dirname "$0")/windows-helpers.sh"
requires guestfish hivexget jq x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc

guest_windows 2k8r2 >/dev/null || fail "cannot build the phony Windows guests"

refuse full 12 'has [0-9]+ MiB free, the conversion needs 100 MiB'
refuse bitlocker 12 'encrypted with BitLocker \(partition 1\)'
refuse dynamic 12 'is a dynamic disk \(partition 1 has type 0x42\)'
