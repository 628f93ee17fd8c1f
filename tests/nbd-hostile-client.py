#!/usr/bin/env python3
# A hostile NBD client: malformed and abusive handshakes and requests
# against a running server.  Each case says what a correct server does
# (a protocol error reply or a clean disconnect); the caller then checks
# with real clients that the server still serves correct data.
# Usage: nbd-hostile-client.py PORT EXPORT SIZE
# SPDX-License-Identifier: GPL-3.0-or-later
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
EXPORT = sys.argv[2].encode()
SIZE = int(sys.argv[3])

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
REQMAGIC = 0x25609513
SIMPLE = 0x67446698
STRUCT = 0x668E33EF
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_SR, OPT_LIST_META, OPT_SET_META = 6, 7, 8, 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR = 0x80000000
ERR_UNSUP, ERR_POLICY, ERR_INVALID, ERR_UNKNOWN, ERR_TOO_BIG = ERR | 1, ERR | 2, ERR | 3, ERR | 6, ERR | 9
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_BLOCK_STATUS = 0, 1, 2, 3, 7
EPERM, EINVAL = 1, 22

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Closed(Exception):
    pass


def connect():
    s = socket.create_connection((HOST, PORT), timeout=10)
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


def closed_by_server(s, timeout=10):
    """True if the server hangs up (EOF or reset) without sending more."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def greet(s, flags=3):
    magic, opt, hflags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", flags))
    return hflags


def send_opt(s, opt, data=b"", length=None):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data) if length is None else length) + data)


def read_rep(s):
    magic, opt, typ, length = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REPMAGIC, "bad reply magic %x" % magic
    return opt, typ, recv_exact(s, length)


def reps_until_final(s):
    out = []
    while True:
        opt, typ, data = read_rep(s)
        out.append((typ, data))
        if typ == REP_ACK or typ & ERR:
            return out


def go(s, name=EXPORT, structured=True, meta=True):
    if structured:
        send_opt(s, OPT_SR)
        check(read_rep(s)[1] == REP_ACK, "structured replies accepted")
    if meta:
        q = b"base:allocation"
        send_opt(s, OPT_SET_META, struct.pack(">I", len(name)) + name +
                 struct.pack(">II", 1, len(q)) + q)
        r = reps_until_final(s)
        check(r[0][0] == REP_META and r[-1][0] == REP_ACK, "base:allocation set")
    send_opt(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    r = reps_until_final(s)
    assert r[-1][0] == REP_ACK, "GO failed: %r" % (r,)


def request(s, cmd, offset, length, flags=0, cookie=0x1234, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQMAGIC, flags, cmd, cookie, offset, length) + payload)


def read_reply(s, structured):
    """(error, data bytes) for one reply; chunks are gathered until DONE."""
    magic = struct.unpack(">I", recv_exact(s, 4))[0]
    if magic == SIMPLE:
        err, cookie = struct.unpack(">IQ", recv_exact(s, 12))
        return err, cookie, None
    assert magic == STRUCT, "bad reply magic %x" % magic
    err, chunks = 0, []
    while True:
        flags, typ, cookie, length = struct.unpack(">HHQI", recv_exact(s, 16))
        payload = recv_exact(s, length)
        if typ & 0x8000:
            err = struct.unpack(">I", payload[:4])[0]
        chunks.append((typ, payload))
        if flags & 1:
            return err, cookie, chunks
        magic = struct.unpack(">I", recv_exact(s, 4))[0]
        assert magic == STRUCT


# ---- handshake abuse ----

def case_silent():
    """A client that connects and says nothing (checked again at the end)."""
    return connect()


def case_garbage_at_once():
    s = connect()
    s.sendall(b"\xde\xad\xbe\xef" * 64)
    check(closed_by_server(s), "garbage instead of client flags: disconnected")


def case_unknown_client_flags():
    s = connect()
    greet(s, flags=0x80000003)
    check(closed_by_server(s), "unknown client flags: disconnected")


def case_bad_option_magic():
    s = connect()
    greet(s)
    s.sendall(struct.pack(">QII", 0x1122334455667788, OPT_LIST, 0))
    check(closed_by_server(s), "bad option magic: disconnected")


def case_truncated():
    for data in (b"\x00\x00", struct.pack(">I", 3) + b"IHAVE",
                 struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"x" * 10):
        s = connect()
        recv_exact(s, 18)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        check(closed_by_server(s), "truncated handshake (%d bytes): disconnected" % len(data))


def case_oversized_options():
    s = connect()
    greet(s)
    send_opt(s, OPT_GO, length=0xFFFFFFFF)
    check(closed_by_server(s), "option length 4 GiB: disconnected")

    s = connect()
    greet(s)
    send_opt(s, OPT_LIST, b"z" * 100000)
    check(read_rep(s)[1] == ERR_TOO_BIG, "option of 100000 bytes: NBD_REP_ERR_TOO_BIG")
    send_opt(s, OPT_LIST)
    r = reps_until_final(s)
    check(r[0][0] == REP_SERVER and r[-1][0] == REP_ACK, "still in step after a too-big option")

    s = connect()
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, b"n" * 70000)
    check(closed_by_server(s), "export name of 70000 bytes: disconnected")


def case_bad_options():
    s = connect()
    greet(s)
    send_opt(s, 999, b"abc")
    check(read_rep(s)[1] == ERR_UNSUP, "unknown option: NBD_REP_ERR_UNSUP")
    send_opt(s, OPT_GO, struct.pack(">I", 5000) + b"abc")
    check(read_rep(s)[1] == ERR_INVALID, "GO with name longer than data: ERR_INVALID")
    send_opt(s, OPT_GO, struct.pack(">I", 0) + struct.pack(">H", 3) + b"\x00\x01")
    check(read_rep(s)[1] == ERR_INVALID, "GO with short info list: ERR_INVALID")
    send_opt(s, OPT_INFO, struct.pack(">I", 6) + b"nosuch" + struct.pack(">H", 0))
    check(read_rep(s)[1] == ERR_UNKNOWN, "INFO for unknown export: ERR_UNKNOWN")
    send_opt(s, OPT_LIST, b"x")
    check(read_rep(s)[1] == ERR_INVALID, "LIST with data: ERR_INVALID")
    send_opt(s, OPT_SET_META, struct.pack(">I", 0) + struct.pack(">I", 0))
    check(read_rep(s)[1] == ERR_INVALID, "SET_META_CONTEXT before structured replies: ERR_INVALID")
    send_opt(s, OPT_LIST_META, struct.pack(">I", 0) + struct.pack(">II", 7, 100) + b"x")
    check(read_rep(s)[1] == ERR_INVALID, "LIST_META_CONTEXT with a bad query length: ERR_INVALID")
    send_opt(s, OPT_STARTTLS)
    check(read_rep(s)[1] == ERR_POLICY, "STARTTLS with TLS off: ERR_POLICY")
    send_opt(s, OPT_INFO, struct.pack(">I", 0) + struct.pack(">H", 2) + b"\x00\x02\x00\x03")
    r = reps_until_final(s)
    check(r[-1][0] == REP_ACK and r[0][0] == REP_INFO, "INFO for the default export works")
    send_opt(s, OPT_ABORT)
    check(read_rep(s)[1] == REP_ACK and closed_by_server(s), "ABORT: ACK and disconnect")

    s = connect()
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, b"nosuch")
    check(closed_by_server(s), "EXPORT_NAME of unknown export: disconnected")

    s = connect()
    greet(s, flags=3)
    send_opt(s, OPT_EXPORT_NAME, b"")
    size, tflags = struct.unpack(">QH", recv_exact(s, 10))
    check(size == SIZE and tflags & 2, "EXPORT_NAME '' with NO_ZEROES: size and read-only flag")
    request(s, CMD_READ, 0, 512)
    err, cookie, _ = read_reply(s, False)
    check(err == 0 and cookie == 0x1234 and len(recv_exact(s, 512)) == 512, "read after EXPORT_NAME")


# ---- transmission abuse ----

def case_bad_requests():
    s = connect()
    greet(s)
    go(s)
    for what, args, want in (
            ("read of 64 MiB", (CMD_READ, 0, 64 << 20), EINVAL),
            ("read at the end", (CMD_READ, SIZE, 512), EINVAL),
            ("read past the end", (CMD_READ, SIZE - 256, 512), EINVAL),
            ("offset+length overflow", (CMD_READ, 2**64 - 512, 1024), EINVAL),
            ("read of 0 bytes", (CMD_READ, 0, 0), EINVAL),
            ("unknown command", (99, 0, 512), EINVAL),
            ("unknown flag", (CMD_READ, 0, 512, 0x100), EINVAL),
            ("trim", (4, 0, 4096), EPERM),
            ("write zeroes", (6, 0, 4096), EPERM),
            ("block status past the end", (CMD_BLOCK_STATUS, SIZE - 1, 2), EINVAL)):
        request(s, *args)
        err, cookie, _ = read_reply(s, True)
        check(err == want and cookie == 0x1234, "%s: error %d" % (what, want))
    request(s, CMD_WRITE, 0, 1 << 20, payload=b"w" * (1 << 20))
    err, _, _ = read_reply(s, True)
    check(err == EPERM, "write of 1 MiB: EPERM")
    request(s, CMD_FLUSH, 0, 0)
    check(read_reply(s, True)[0] == 0, "flush: ok")
    request(s, CMD_READ, 0, 4096, cookie=77)
    err, cookie, chunks = read_reply(s, True)
    got = sum(len(p) - 8 if t == 1 else struct.unpack(">I", p[8:12])[0] for t, p in chunks)
    check(err == 0 and cookie == 77 and got == 4096, "still in step: a good read")
    request(s, CMD_BLOCK_STATUS, 0, SIZE, flags=8)
    err, _, chunks = read_reply(s, True)
    check(err == 0 and len(chunks) == 1 and len(chunks[0][1]) == 12, "block status REQ_ONE: one extent")
    request(s, CMD_DISC, 0, 0)
    check(closed_by_server(s), "NBD_CMD_DISC: disconnected")

    s = connect()
    greet(s)
    go(s, structured=False, meta=False)
    request(s, CMD_BLOCK_STATUS, 0, 4096)
    check(read_reply(s, False)[0] == EINVAL, "block status without a meta context: EINVAL")
    request(s, CMD_WRITE, 0, 64 << 20, payload=b"x" * 4096)
    check(closed_by_server(s), "write announcing 64 MiB: disconnected")

    s = connect()
    greet(s)
    go(s)
    s.sendall(b"\x00" * 28)
    check(closed_by_server(s), "bad request magic: disconnected")

    s = connect()
    greet(s)
    go(s)
    request(s, CMD_READ, 0, 32 << 20)
    s.close()                       # leave while the server sends 32 MiB


def case_many_connections():
    """40 at once: the server has 16 handshake slots; the others wait in
    the accept queue (no greeting yet) until a slot frees up."""
    socks = []
    for _ in range(40):
        try:
            socks.append(connect())
        except OSError:
            break
    for s in socks:
        s.setblocking(False)
    greeted = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        live = [s for s in socks if s not in greeted]
        ready, _, _ = select.select(live, [], [], 0.2)
        for s in ready:
            greeted.add(s)
    check(1 <= len(greeted) <= 16,
          "40 connections at once: at most 16 in the handshake (%d)" % len(greeted))
    # Leaving frees the slots: the ones that waited are greeted now.
    for s in greeted:
        s.close()
    waiting = [s for s in socks if s not in greeted]
    late = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(late) < min(len(waiting), 16):
        ready, _, _ = select.select([s for s in waiting if s not in late], [], [], 0.2)
        late.update(ready)
    check(len(late) >= min(len(waiting), 15),
          "waiting connections served once others left (%d)" % len(late))
    for s in socks:
        s.close()
    time.sleep(0.5)


def main():
    silent = case_silent()
    started = time.monotonic()
    case_garbage_at_once()
    case_unknown_client_flags()
    case_bad_option_magic()
    case_truncated()
    case_oversized_options()
    case_bad_options()
    case_bad_requests()
    case_many_connections()
    # The silent client never blocked anyone; the server drops it at the
    # handshake deadline (10 s).
    recv_exact(silent, 18)
    left = 13 - (time.monotonic() - started)
    check(closed_by_server(silent, timeout=max(left, 1) + 5),
          "silent client dropped after the handshake timeout")
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
