#!/usr/bin/env python3
"""Binds UDP ports LO..HI-1 on 127.0.0.1 and holds them for SECONDS without
reading. SIPp plays its pcaps from a raw socket and never binds the media
ports it announces, so every RTP packet voxgate sends back would otherwise
draw an ICMP port-unreachable, which the kernel fans out to all of SIPp's raw
sockets and charges to voxgate's send: ~12 % of the daemon's CPU in the
concurrent-call bench. Bound but unread, the packets are simply dropped when
the socket buffer fills. Usage: udpsink.py LO HI SECONDS"""
import socket
import sys
import time

lo, hi, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for port in range(lo, hi):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        s.close()
print(f"udpsink: holding {len(socks)} ports in {lo}..{hi - 1}", flush=True)
time.sleep(secs)
