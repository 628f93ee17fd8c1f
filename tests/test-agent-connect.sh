#!/bin/bash
# p2v-agent serve --connect: the agent dials out to a listening NBD client
# (libnbd over an accepted socket, as the converter does) and serves there
# until the client opens p2v:done (docs/dial-in.md).
source "$(dirname "$0")/functions.sh"
"$PYTHON" -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"

disk=$TEST_DIR/disk.img
head -c 8M /dev/urandom >"$disk"
truncate -s 16M "$disk"

# The listening side: accept one connection, speak NBD as the client over it.
"$PYTHON" - "$disk" "$TEST_DIR/port" <<'PY' &
import socket, sys, nbd
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
listener.settimeout(30)
conn, _ = listener.accept()
h = nbd.NBD()
h.set_export_name("disk.img")
h.connect_socket(conn.detach())
size = h.get_size()
data = h.pread(size, 0) if size <= 32 << 20 else None
expected = open(sys.argv[1], "rb").read()
assert size == len(expected), (size, len(expected))
assert data == expected, "data differs"
h.shutdown()
print("client: read", size, "bytes, identical")
# Everything copied: say so on another dialled connection.
conn, _ = listener.accept()
h = nbd.NBD()
h.set_export_name("p2v:done")
h.connect_socket(conn.detach())
h.shutdown()
PY
client_pid=$!
for _ in $(seq 100); do [ -f "$TEST_DIR/port" ] && break; sleep 0.1; done
[ -f "$TEST_DIR/port" ] || fail "the listening client did not start"

timeout 60 "$P2V_AGENT" serve --connect "127.0.0.1:$(cat "$TEST_DIR/port")" "$disk" \
    2>"$TEST_DIR/agent.log" || { cat "$TEST_DIR/agent.log" >&2; fail "p2v-agent serve --connect failed"; }
grep -q "the converter has everything; done" "$TEST_DIR/agent.log" || fail "no 'done' line from the agent"
wait $client_pid || fail "the client over the dialled connection failed"
pass "serve --connect"
