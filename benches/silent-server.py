#!/usr/bin/env python3
"""An endpoint that accepts connections on loopback and never answers, for the deadline
benchmarks. Writes its port to PORT_FILE, holds every connection, and stops by itself after
SECONDS (default 900).

Usage: benches/silent-server.py PORT_FILE [SECONDS]
"""
import socket
import sys
import time

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(512)
with open(sys.argv[1], "w") as port_file:
    port_file.write(str(listener.getsockname()[1]))
listener.settimeout(1)
held = []
end = time.time() + (float(sys.argv[2]) if len(sys.argv) > 2 else 900)
while time.time() < end:
    try:
        connection, _ = listener.accept()
        held.append(connection)
    except socket.timeout:
        pass
