#!/usr/bin/env python3
# Clients that try to lock other clients out of an NBD server: ones that
# trickle their handshake a byte at a time, ones that open an export and
# then say nothing, and many refused ones.  Used by test-nbd-lockout.sh.
#
#   trickle-once PORT LIMIT      one trickling client; exit 0 if the server
#                                hangs up on it within LIMIT seconds
#   attack PORT EXPORT N STATUS  N clients through NBD_OPT_GO, then idle, and
#                                N clients trickling (reconnecting when
#                                dropped), until killed; STATUS gets
#                                "ready" and then "idle_closed=K" lines
#   hold PORT EXPORT STATUS      one client through NBD_OPT_GO, then idle;
#                                STATUS gets "ready", then "closed" if the
#                                server hangs up on it
#   refused PORT EXPORT N TEXT   N clients in turn; each must get
#                                NBD_REP_ERR_SHUTDOWN with TEXT in reply
#                                to NBD_OPT_GO
# SPDX-License-Identifier: GPL-3.0-or-later
import select
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
OPT_GO, OPT_SR = 7, 8
REP_ACK = 1
ERR = 0x80000000
ERR_SHUTDOWN = ERR | 7


class Closed(Exception):
    pass


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise Closed()
        data += chunk
    return data


def greet(s):
    magic, opt, _ = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 3))


def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def reply(s):
    magic, _, typ, length = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REPMAGIC, "bad reply magic %x" % magic
    return typ, recv_exact(s, length)


def go(s, export):
    """Send NBD_OPT_GO; the final reply (type, payload)."""
    option(s, OPT_GO, struct.pack(">I", len(export)) + export + struct.pack(">H", 0))
    while True:
        typ, data = reply(s)
        if typ == REP_ACK or typ & ERR:
            return typ, data


def open_export(port, export):
    s = connect(port)
    greet(s)
    option(s, OPT_SR)
    assert reply(s)[0] == REP_ACK, "structured replies refused"
    typ, data = go(s, export)
    assert typ == REP_ACK, "GO refused: 0x%x %r" % (typ, data)
    return s


def trickle_bytes():
    """A valid handshake (flags, then NBD_OPT_LIST again and again), long
    enough to take a minute at a byte every half second."""
    return struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, 3, 0) * 8


def trickle(s, stop=None, until=None, pause=0.5):
    """Send the handshake a byte at a time; True when the server hangs up."""
    s.settimeout(pause)
    try:
        recv_exact(s, 18)
        for b in trickle_bytes():
            if (stop is not None and stop.is_set()) or (until and time.monotonic() > until):
                return False
            s.sendall(bytes([b]))
            try:
                if not s.recv(4096):
                    return True
            except socket.timeout:
                pass
    except (Closed, ConnectionResetError, BrokenPipeError):
        return True
    return False


def trickle_once(port, limit):
    start = time.monotonic()
    s = connect(port)
    dropped = trickle(s, until=start + limit + 3)
    took = time.monotonic() - start
    print("trickling client: %s after %.1f s" % ("dropped" if dropped else "still there", took))
    return 0 if dropped and took <= limit else 1


def trickler_loop(port, stop):
    while not stop.is_set():
        try:
            trickle(connect(port), stop)
        except OSError:
            time.sleep(0.1)


def attack(port, export, n, status):
    idle = [open_export(port, export) for _ in range(n)]
    stop = threading.Event()
    for _ in range(n):
        threading.Thread(target=trickler_loop, args=(port, stop), daemon=True).start()
    with open(status, "a") as f:
        f.write("ready\n")
    for s in idle:
        s.setblocking(False)
    closed = set()
    while True:
        live = [s for s in idle if s not in closed]
        ready, _, _ = select.select(live, [], [], 0.2)
        for s in ready:
            try:
                if not s.recv(4096):
                    closed.add(s)
            except OSError:
                closed.add(s)
        if ready:
            with open(status, "a") as f:
                f.write("idle_closed=%d\n" % len(closed))


def hold(port, export, status):
    s = open_export(port, export)
    with open(status, "a") as f:
        f.write("ready\n")
    s.settimeout(None)
    try:
        s.recv(4096)
    except OSError:
        pass
    with open(status, "a") as f:
        f.write("closed\n")


def refused(port, export, n, text):
    bad = 0
    for i in range(n):
        s = connect(port)
        greet(s)
        typ, data = go(s, export)
        if typ != ERR_SHUTDOWN or text.encode() not in data:
            print("client %d: reply 0x%x %r" % (i, typ, data))
            bad += 1
        s.close()
    print("%d of %d refused clients got the message" % (n - bad, n))
    return 1 if bad else 0


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "trickle-once":
        return trickle_once(port, float(sys.argv[3]))
    export = sys.argv[3].encode()
    if cmd == "attack":
        return attack(port, export, int(sys.argv[4]), sys.argv[5])
    if cmd == "hold":
        return hold(port, export, sys.argv[4])
    if cmd == "refused":
        return refused(port, export, int(sys.argv[4]), sys.argv[5])
    sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
