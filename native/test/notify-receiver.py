"""
A stand-in for systemd's notification socket, for tests: binds an AF_UNIX datagram socket (a path, or an
abstract name written as @name) and prints one JSON line per datagram: CLOCK_MONOTONIC arrival time in ms,
the sender's pid (SCM_CREDENTIALS, as systemd checks for NotifyAccess=main) and the text.
Exits when stdin closes or after the lifetime given in seconds, whichever comes first.
Usage: python3 notify-receiver.py ADDRESS LIFETIME_SECONDS
"""
import json
import os
import select
import socket
import struct
import sys
import time

address, lifetime = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
print(json.dumps({"ready": True}), flush=True)

deadline = time.monotonic() + lifetime
stdin = sys.stdin.fileno()
while time.monotonic() < deadline:
    readable, _, _ = select.select([sock, stdin], [], [], 0.25)
    if stdin in readable and not os.read(stdin, 4096):
        break
    if sock in readable:
        data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        line = {"t": time.monotonic() * 1000, "pid": pid, "text": data.decode("utf-8", "replace")}
        print(json.dumps(line), flush=True)
sock.close()
if not address.startswith("@"):
    os.unlink(address)
