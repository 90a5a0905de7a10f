#!/usr/bin/env python3
"""badpeer: a TCP service that is not a DIPC referee, for tests of what dipcd does when its
referee address points at one. MODE: "close" (accepts and closes at once), "garbage"
(answers every connection with bytes that are no DIPC frame), "silent" (accepts and never
says anything). Listens on 127.0.0.1, writes its port to PORTFILE, serves for at most
LIFETIME seconds, then exits. Each connection it accepts adds a line to PORTFILE.log."""
import socket
import sys
import threading
import time

mode, portfile, lifetime = sys.argv[1], sys.argv[2], float(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
srv.settimeout(0.05)
with open(portfile + ".tmp", "w") as f:
    f.write(f"{srv.getsockname()[1]}\n")
import os
os.rename(portfile + ".tmp", portfile)
held = []
end = time.monotonic() + lifetime
while time.monotonic() < end:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    with open(portfile + ".log", "a") as f:
        f.write("accepted\n")
    if mode == "close":
        c.close()
    elif mode == "garbage":
        try:
            c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)
        except OSError:
            pass
        held.append(c)
    else:
        held.append(c)
