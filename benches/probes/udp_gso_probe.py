# A probe of the kernel, not of flowfold: on loopback, the sender's CPU (user + system) per UDP
# datagram of SIZE bytes (a relay frame of a full export datagram) sent one per system call,
# against UDP GSO (UDP_SEGMENT: SEGS datagrams per call), with a receiver draining in another
# process. It tells whether GSO on the proxy's send side would pay (see benches/RESULTS.md,
# "Proxy forwarding", 2026-12-07). Run: python3 benches/probes/udp_gso_probe.py
import multiprocessing
import os
import socket
import struct
import time

SIZE, N, SEGS = 1422, 300_000, 32

def sink(port_q, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind(("127.0.0.1", 0)); port_q.put(s.getsockname()[1]); s.settimeout(0.5)
    n = 0
    while True:
        try:
            s.recv(65535); n += 1
        except socket.timeout:
            if stop.is_set(): break
    port_q.put(n)

def run(gso):
    q, stop = multiprocessing.Queue(), multiprocessing.Event()
    p = multiprocessing.Process(target=sink, args=(q, stop)); p.start(); port = q.get()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    payload = bytes(SIZE)
    t0 = os.times(); w0 = time.time(); sent = 0
    if gso:
        big = payload * SEGS
        cm = [(socket.SOL_UDP, 103, struct.pack("H", SIZE))]
        while sent < N:
            s.sendmsg([big], cm); sent += SEGS
            if sent % (SEGS * 50) == 0: time.sleep(0.0005)
    else:
        while sent < N:
            s.send(payload); sent += 1
            if sent % 1600 == 0: time.sleep(0.0005)
    t1 = os.times(); w1 = time.time()
    stop.set(); got = q.get(); p.join()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    print(f"{'gso' if gso else 'plain':5} sent {sent} got {got} sender CPU {cpu:.2f}s = {cpu/sent*1e6:.2f} us/datagram, wall {w1-w0:.2f}s")

for gso in (False, True, False, True):
    run(gso)
