#!/bin/bash
# Bad input to p2v-agent: one clear line on stderr, a non-zero exit, and
# nothing served.
source "$(dirname "$0")/functions.sh"

disk=$TEST_DIR/disk.img
truncate -s 1M "$disk"

# Command line.
expect_error "no command given" "$P2V_AGENT"
expect_error "unknown command 'srve'" "$P2V_AGENT" srve "$disk"
# The Windows service's commands: one line pointing at systemd.
for command in install uninstall start stop status service; do
    expect_error "^p2v-agent: '$command' is for the Windows agent; on Linux run p2v-agent serve from systemd \(docs/p2v-agent\.md\)\$" \
        "$P2V_AGENT" "$command" --listen 127.0.0.1:1 "$disk"
done
expect_error "no disk given" "$P2V_AGENT" serve
expect_error "unknown option" "$P2V_AGENT" serve --bogus "$disk"
expect_error "exclude each other" "$P2V_AGENT" serve --listen 127.0.0.1:1 --connect 127.0.0.1:2 "$disk"
expect_error '--tls: "maybe" is not one of off, on, require; see' "$P2V_AGENT" serve --tls=maybe "$disk"
expect_error '--max-clients: "0" is not a number from 1 to 1024; see' "$P2V_AGENT" serve --max-clients 0 "$disk"
expect_error "needs --tls-certificates" "$P2V_AGENT" serve --tls=require "$disk"
expect_error "needs a CA" "$P2V_AGENT" serve --tls-psk "$TEST_DIR/keys.psk" --tls-verify-peer "$disk"

# Disks.
expect_error "cannot open disk $TEST_DIR/missing.img: No such file" "$P2V_AGENT" serve "$TEST_DIR/missing.img"
expect_error "$TEST_DIR.*director" "$P2V_AGENT" serve "$TEST_DIR"
: >"$TEST_DIR/empty.img"
expect_error "empty.img.*(empty|zero)" "$P2V_AGENT" serve "$TEST_DIR/empty.img"
# Unreadable: the agent runs as a user who may not read the image.
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
    cp "$disk" "$TEST_DIR/secret.img"
    chmod 600 "$TEST_DIR/secret.img"
    chmod 755 "$TEST_DIR"
    expect_error "cannot open disk $TEST_DIR/secret.img: Permission denied" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$P2V_AGENT" serve "$TEST_DIR/secret.img"
fi
mkdir "$TEST_DIR/other"
truncate -s 1M "$TEST_DIR/other/disk.img"
expect_error "both be served as export 'disk.img'" "$P2V_AGENT" serve "$disk" "$TEST_DIR/other/disk.img"

# Addresses: port in use, bad address, clear text off loopback (refused
# before anything listens).
port=$(free_port)
"$PYTHON" -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(1); time.sleep(30)" &
squatter=$!
stop_squatter() { kill $squatter 2>/dev/null; wait $squatter 2>/dev/null; }
cleanup stop_squatter
wait_for_port "$port"
expect_error "cannot listen on 127.0.0.1:$port: Address already in use" \
    "$P2V_AGENT" serve --listen "127.0.0.1:$port" "$disk"
expect_error "refusing to serve disks on 0.0.0.0:$port in clear text" \
    "$P2V_AGENT" serve --listen "0.0.0.0:$port" "$disk"
expect_error "cannot listen on not-an-address: the address must be" "$P2V_AGENT" serve --listen "not-an-address" "$disk"
expect_error "cannot listen on 127.0.0.1:99999: the address must be" "$P2V_AGENT" serve --listen "127.0.0.1:99999" "$disk"
expect_error "cannot connect to 127.0.0.1:http: the address must be" "$P2V_AGENT" serve --connect "127.0.0.1:http" "$disk"
expect_error "--connections is for --connect" "$P2V_AGENT" serve --connections 2 "$disk"
expect_error "^p2v-agent: --connections: \"65\" is not a number from 1 to 64; see 'p2v-agent serve --help'\$" "$P2V_AGENT" serve --connect 127.0.0.1:1 --connections 65 "$disk"
# Nobody listening: --connect keeps trying (docs/dial-in.md), saying so
# once; SIGTERM before the converter had everything is exit 1.
"$P2V_AGENT" serve --connect 127.0.0.1:1 "$disk" 2>"$TEST_DIR/dial.err" &
dialer=$!
for _ in $(seq 100); do grep -q "cannot reach" "$TEST_DIR/dial.err" && break; sleep 0.1; done
sleep 1.5
kill -TERM $dialer
status=0; wait $dialer || status=$?
[ "$status" -eq 1 ] || { cat "$TEST_DIR/dial.err" >&2; fail "--connect stopped by SIGTERM: exit $status"; }
[ "$(grep -c "cannot reach the converter at 127.0.0.1:1 " "$TEST_DIR/dial.err")" -eq 1 ] ||
    { cat "$TEST_DIR/dial.err" >&2; fail "--connect: expected one 'cannot reach' line"; }
grep -q "stopped before the converter had everything" "$TEST_DIR/dial.err" || fail "--connect: no stop line"

# TLS files.
expect_error "$TEST_DIR/no.psk" "$P2V_AGENT" serve --tls-psk "$TEST_DIR/no.psk" "$disk"
printf 'not a key file\n' >"$TEST_DIR/bad.psk"
expect_error "bad.psk" "$P2V_AGENT" serve --tls-psk "$TEST_DIR/bad.psk" "$disk"
printf 'garbage\n' >"$TEST_DIR/cert.pem"
printf 'garbage\n' >"$TEST_DIR/key.pem"
expect_error "cert.pem|key.pem" "$P2V_AGENT" serve --tls-cert "$TEST_DIR/cert.pem" --tls-key "$TEST_DIR/key.pem" "$disk"
expect_error "$TEST_DIR/nocerts/server-cert.pem" "$P2V_AGENT" serve --tls-certificates "$TEST_DIR/nocerts" "$disk"

# Help goes to stdout and succeeds.
"$P2V_AGENT" serve --help | grep -q -- "--tls-psk" || fail "serve --help"
"$P2V_AGENT" --help | grep -q survey || fail "--help"
pass "bad input gets one clear line and a non-zero exit"
