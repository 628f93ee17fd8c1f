#!/usr/bin/env python3
# A server that accepts TCP connections on 127.0.0.1 and then stalls the
# NBD handshake, for the client's connect deadline:
#   silent    accept, never send a byte (no NBD greeting)
#   greeting  send the fixed-newstyle greeting, read the client's flags and
#             whatever options follow, never answer one
# Connections are kept open (never closed) until the server is killed.
# Usage: nbd-silent-server.py PORT MODE
# SPDX-License-Identifier: GPL-3.0-or-later
import socket
import struct
import sys
import threading

PORT = int(sys.argv[1])
MODE = sys.argv[2]
if MODE not in ("silent", "greeting"):
    raise SystemExit("mode must be silent or greeting")

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2

held = []                       # every accepted socket stays open


def serve(conn):
    if MODE == "greeting":
        conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT,
                                 FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
    # Read (and drop) whatever the client sends, bounded, answer nothing.
    total = 0
    while total < (1 << 20):
        data = conn.recv(4096)
        if not data:
            return
        total += len(data)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", PORT))
listener.listen(16)
while len(held) < 64:
    conn, _ = listener.accept()
    held.append(conn)
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
