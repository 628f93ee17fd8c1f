#!/usr/bin/env python3
# A hostile (or merely odd) source for dial-in: dials the converter's
# listening port and is a small NBD server on each connection, offering
# what MODE says (docs/dial-in.md):
#   evil-name     a disk export named "../evil"
#   ctrl-name     a disk export whose name has a control character
#   big-survey    a 5 MiB p2v:survey (more than the converter takes)
#   bad-survey    a p2v:survey that is JSON but not a valid survey
#   stale-first   two connections closed (FIN, then RST) before use, then
#                 good ones: one 1 MiB disk "disk" (bytes 0..255 repeated),
#                 no survey, simple replies only, no base:allocation
#   no-token      like stale-first without the stale ones, and announcing
#                 no p2v session (an NBD server that is no p2v source)
#   impostor-guess NAME SIZE   a disk NAME of SIZE bytes of 0xee, under a
#                 session token of its own (a guess), dialling again at once
#                 whenever a session ends, for DURATION s (env, default 60):
#                 an impostor next to a real source
#   impostor-none NAME SIZE    the same announcing no session
# Every other mode announces a session token (random), as p2v sources do.
# Keeps two connections open, dials again as they end, exits 0 once the
# converter opened p2v:done (or after 60 s, or when the converter is gone).
# Env: DURATION (s), GATE (a file to wait for before dialling).
# Prints "dialler: done|no done", then "dialler: reads N busy N" (READ
# requests served, sessions the converter said p2v:busy on).
# Usage: nbd-hostile-dialler.py MODE PORT [NAME SIZE]
# SPDX-License-Identifier: GPL-3.0-or-later
import os
# SPDX-License-Identifier: GPL-3.0-or-later
import socket
import struct
import sys
import threading
import time

MODE, PORT = sys.argv[1], int(sys.argv[2])
IMPOSTOR = MODE.startswith("impostor-")
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
REQMAGIC = 0x25609513
SIMPLE = 0x67446698
OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 2, 3, 6, 7
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR_UNSUP, ERR_UNKNOWN = 0x80000001, 0x80000006
INFO_DESCRIPTION = 2
CMD_READ, CMD_DISC, CMD_FLUSH = 0, 2, 3
FLAGS = 1 | 2 | 256             # HAS_FLAGS, READ_ONLY, CAN_MULTI_CONN

DISK = bytes(range(256)) * 4096
EXPORTS = {
    "evil-name": {"../evil": DISK, "p2v:done": b""},
    "ctrl-name": {"bad\x01name": DISK, "p2v:done": b""},
    "big-survey": {"disk": DISK, "p2v:survey": None, "p2v:done": b""},
    "bad-survey": {"disk": DISK, "p2v:survey": b'{"schema_version": 99}\n', "p2v:done": b""},
    "stale-first": {"disk": DISK, "p2v:done": b""},
    "no-token": {"disk": DISK, "p2v:done": b""},
    "impostor-guess": {},
    "impostor-none": {},
}[MODE]
if IMPOSTOR:
    EXPORTS = {sys.argv[3]: b"\xee" * int(sys.argv[4]), "p2v:done": b""}
SESSION = None if MODE in ("no-token", "impostor-none") else os.urandom(16).hex()
DESCRIPTION = ("p2v-session=%s connections=2" % SESSION).encode() if SESSION else b""
done = threading.Event()
counts = {"reads": 0, "busy": 0}
lock = threading.Lock()


def count(what):
    with lock:
        counts[what] += 1


def size_of(name):
    if EXPORTS[name] is None:   # big-survey: never read, only announced
        return 5 << 20
    return len(EXPORTS[name])


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def reply(s, opt, typ, data=b""):
    s.sendall(struct.pack(">QIII", REPMAGIC, opt, typ, len(data)) + data)


def transmission(s, name):
    data = EXPORTS[name] or b""
    while True:
        magic, flags, typ, cookie, off, length = struct.unpack(">IHHQQI", recv_exact(s, 28))
        if magic != REQMAGIC or typ == CMD_DISC:
            return
        if typ == CMD_READ:
            count("reads")
        if typ == CMD_READ and off + length <= len(data):
            s.sendall(struct.pack(">IIQ", SIMPLE, 0, cookie) + data[off:off + length])
        elif typ == CMD_FLUSH:
            s.sendall(struct.pack(">IIQ", SIMPLE, 0, cookie))
        else:
            s.sendall(struct.pack(">IIQ", SIMPLE, 22, cookie))


def serve(s):
    s.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 1 | 2))
    recv_exact(s, 4)
    while True:
        magic, opt, length = struct.unpack(">QII", recv_exact(s, 16))
        data = recv_exact(s, length)
        if opt == OPT_LIST:
            for name in EXPORTS:
                n = name.encode()
                reply(s, opt, REP_SERVER, struct.pack(">I", len(n)) + n + DESCRIPTION)
            reply(s, opt, REP_ACK)
        elif opt in (OPT_INFO, OPT_GO):
            (nlen,) = struct.unpack(">I", data[:4])
            name = data[4:4 + nlen].decode(errors="replace")
            if name == "p2v:busy":
                count("busy")
            if name not in EXPORTS:
                reply(s, opt, ERR_UNKNOWN)
                continue
            reply(s, opt, REP_INFO, struct.pack(">HQH", 0, size_of(name), FLAGS))
            (ninfos,) = struct.unpack(">H", data[4 + nlen:6 + nlen])
            infos = struct.unpack(">%dH" % ninfos, data[6 + nlen:6 + nlen + 2 * ninfos])
            if INFO_DESCRIPTION in infos and DESCRIPTION:
                reply(s, opt, REP_INFO, struct.pack(">H", INFO_DESCRIPTION) + DESCRIPTION)
            reply(s, opt, REP_ACK)
            if opt == OPT_GO:
                if name == "p2v:done":
                    done.set()
                transmission(s, name)
                return
        elif opt == OPT_ABORT:
            reply(s, opt, REP_ACK)
            return
        else:                   # structured replies, meta contexts, TLS: no
            reply(s, opt, ERR_UNSUP)


def session(s):
    try:
        serve(s)
    except (EOFError, OSError, struct.error):
        pass
    finally:
        s.close()


def dial():
    return socket.create_connection(("127.0.0.1", PORT), timeout=None)


if MODE == "stale-first":
    s = dial()
    s.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3))
    s.close()                                              # FIN after the greeting
    s = dial()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                                              # RST
    time.sleep(0.2)

# GATE=FILE: start dialling only once FILE exists (a test's cue, exact to
# a few ms, which starting python is not).
gate = os.environ.get("GATE")
for _ in range(6000):
    if not gate or os.path.exists(gate):
        break
    time.sleep(0.01)
deadline = time.time() + float(os.environ.get("DURATION", "60"))
threads = []
while not done.is_set() and time.time() < deadline:
    threads = [t for t in threads if t.is_alive()]
    if len(threads) < 2:
        try:
            t = threading.Thread(target=session, args=(dial(),), daemon=True)
        except OSError:
            break               # the converter is gone
        t.start()
        threads.append(t)
        continue
    time.sleep(0.05)
print("dialler: done" if done.is_set() else "dialler: no done", flush=True)
print("dialler: reads %d busy %d" % (counts["reads"], counts["busy"]), flush=True)
