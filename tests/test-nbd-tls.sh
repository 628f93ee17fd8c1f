#!/bin/bash
# NBD over TLS against real clients: PSK keys from psktool, X.509 from
# certtool (with and without client certificates), TLS required or
# optional, and bad TLS files reported in one clear line.
# labels: nbd tls
# SPDX-License-Identifier: GPL-3.0-or-later
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/tls-helpers.sh"
requires nbdinfo nbdcopy psktool certtool
[ -x "$P2V_AGENT" ] || skip "p2v-agent is not built"

disk=$TEST_DIR/disk.img
truncate -s 16M "$disk"
head -c 2M /dev/urandom | dd of="$disk" bs=1M seek=4 conv=notrunc status=none
size=$(stat -c %s "$disk")

# ---- PSK ----
psktool -u alice -p "$TEST_DIR/keys.psk" >/dev/null 2>&1
psktool -u mallory -p "$TEST_DIR/other.psk" >/dev/null 2>&1
port=$(free_port)
start_agent "$port" --tls=require --tls-psk "$TEST_DIR/keys.psk" "$disk"
psk_uri="nbds://alice@127.0.0.1:$port/disk.img?tls-psk-file=$TEST_DIR/keys.psk"
nbdinfo "$psk_uri" | grep -q "export-size: $size" || fail "PSK: nbdinfo"
nbdcopy --connections=2 "$psk_uri" "$TEST_DIR/copy.img"
cmp "$disk" "$TEST_DIR/copy.img" || fail "PSK: data differ"
rm -f "$TEST_DIR/copy.img"
nbdinfo "nbd://127.0.0.1:$port/disk.img" >/dev/null 2>&1 && fail "PSK: a plain client got in"
nbdinfo "nbds://mallory@127.0.0.1:$port/disk.img?tls-psk-file=$TEST_DIR/other.psk" \
    >/dev/null 2>&1 && fail "PSK: an unknown user got in"
nbdinfo --list "nbd://127.0.0.1:$port" >/dev/null 2>&1 && fail "PSK: plain listing allowed"
# Plain-text options get NBD_REP_ERR_TLS_REQD; bytes sent after STARTTLS
# but before our reply (a STARTTLS injection) get the client dropped.
python3 - "$port" <<'PY' || fail "PSK: TLS_REQD / STARTTLS injection"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def rx(n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c: raise SystemExit("closed early")
        d += c
    return d
opt = lambda o, d=b"": struct.pack(">QII", 0x49484156454F5054, o, len(d)) + d
rx(18); s.sendall(struct.pack(">I", 3) + opt(3))
assert struct.unpack(">QIII", rx(20))[2] == 0x80000005, "no TLS_REQD"
s.sendall(opt(5) + opt(3))                    # STARTTLS, then plain text at once
assert struct.unpack(">QIII", rx(20))[2] == 1, "no ACK to STARTTLS"
s.settimeout(5)
assert s.recv(100) == b"", "server went on after injected bytes"
PY
pass "PSK"

# ---- X.509 ----
pki=$TEST_DIR/pki
make_pki "$pki"

port=$(free_port)
start_agent "$port" --tls=require --tls-certificates "$pki/server" "$disk"
x509_uri="nbds://127.0.0.1:$port/disk.img?tls-certificates=$pki/client"
nbdinfo "$x509_uri" | grep -q "export-size: $size" || fail "X.509: nbdinfo"
nbdinfo "nbds://127.0.0.1:$port/disk.img?tls-certificates=$pki/nocert" \
    | grep -q "export-size: $size" || fail "X.509 without verify-peer: client without cert"
nbdinfo "nbd://127.0.0.1:$port/disk.img" >/dev/null 2>&1 && fail "X.509: a plain client got in"
pass "X.509"

port=$(free_port)
start_agent "$port" --tls=require --tls-certificates "$pki/server" --tls-verify-peer "$disk"
x509_uri="nbds://127.0.0.1:$port/disk.img?tls-certificates=$pki/client"
nbdcopy "$x509_uri" "$TEST_DIR/copy.img"
cmp "$disk" "$TEST_DIR/copy.img" || fail "X.509 verify-peer: data differ"
rm -f "$TEST_DIR/copy.img"
nbdinfo "nbds://127.0.0.1:$port/disk.img?tls-certificates=$pki/nocert" >/dev/null 2>&1 &&
    fail "verify-peer: a client without a certificate got in"
pass "X.509 with --tls-verify-peer"

# ---- TLS optional ----
port=$(free_port)
start_agent "$port" --tls=on --tls-psk "$TEST_DIR/keys.psk" "$disk"
nbdinfo "nbd://127.0.0.1:$port/disk.img" | grep -q "export-size: $size" ||
    fail "--tls=on: plain client"
nbdinfo "nbds://alice@127.0.0.1:$port/disk.img?tls-psk-file=$TEST_DIR/keys.psk" \
    | grep -q "export-size: $size" || fail "--tls=on: TLS client"
pass "--tls=on"

# ---- bad TLS files: one clear line, non-zero exit ----
p=127.0.0.1:$(free_port)
expect_error "cannot read TLS certificate $TEST_DIR/nope.pem: No such file or directory" \
    "$P2V_AGENT" serve --listen "$p" --tls=require --tls-cert "$TEST_DIR/nope.pem" \
    --tls-key "$pki/server/server-key.pem" "$disk"
expect_error "cannot read TLS PSK file $TEST_DIR/nope.psk: No such file or directory" \
    "$P2V_AGENT" serve --listen "$p" --tls-psk "$TEST_DIR/nope.psk" "$disk"
printf 'alice:xyz\n' >"$TEST_DIR/bad.psk"
expect_error "TLS PSK file $TEST_DIR/bad.psk: line 1 is not USERNAME:HEXKEY" \
    "$P2V_AGENT" serve --listen "$p" --tls-psk "$TEST_DIR/bad.psk" "$disk"
echo "not a certificate" >"$TEST_DIR/bad.pem"
expect_error "cannot load TLS certificate $TEST_DIR/bad.pem" \
    "$P2V_AGENT" serve --listen "$p" --tls-cert "$TEST_DIR/bad.pem" \
    --tls-key "$pki/server/server-key.pem" "$disk"
expect_error "cannot load TLS CA certificate $TEST_DIR/bad.pem" \
    "$P2V_AGENT" serve --listen "$p" --tls-cert "$pki/server/server-cert.pem" \
    --tls-key "$pki/server/server-key.pem" --tls-ca "$TEST_DIR/bad.pem" "$disk"
pass "bad TLS files"
