"""When does this machine's TCP stack stall small messages the way Ray 0.6's raylets were
stalled? A one-way loopback connection without TCP_NODELAY (as Ray 0.6's raylets wrote to
each other) carries bursts of four equal messages (808 bytes, the size of a task Ray 0.6
forwarded in the streaming workload) at 0, 1.4, 9 and 9.4 ms, every 100 ms, as in that
workload; the reader reads each as it comes (a 24-byte header, then the body). Printed: each
position's delivery delay.

    python3 peers/ray/nagle_probe.py            # a fresh connection
    python3 peers/ray/nagle_probe.py --steady   # after bulk data and one larger message

On Linux 6.18 here, a fresh connection delivers everything at once; after bulk data (which
grows the receive window) and one larger message, the third and fourth of every burst wait
~35 ms: the second is not acknowledged when read, and the sender holds the next ones until
its delayed acknowledgement (40 ms). See cohort's README, "Real Ray".
"""
import json
import os
import select
import socket
import struct
import sys
import time

OFFSETS_MS = [0.0, 1.4, 9.0, 9.4]
PERIOD_S = 0.1
SIZE = 808
BURSTS = 30
BULK = 400  # 64 KiB messages before the bursts, with --steady


def main():
    steady = "--steady" in sys.argv[1:]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.socket()
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    srv.close()
    before = (BULK + 1) if steady else 0
    total = before + BURSTS * len(OFFSETS_MS)
    r, w = os.pipe()
    if os.fork() == 0:
        cli.close()
        read_all(conn, total, w)
    conn.close()

    def send(n):
        body = b"x" * (n - 24)
        cli.sendmsg([struct.pack("<q", 0), struct.pack("<q", 15), struct.pack("<q", len(body)),
                     body])

    if steady:
        for _ in range(BULK):
            send(65536)
        time.sleep(0.2)
        send(2 * SIZE)
        time.sleep(0.05)
    sent = []
    start = time.perf_counter() + 0.05
    for k in range(BURSTS):
        for o in OFFSETS_MS:
            due = start + k * PERIOD_S + o / 1e3
            while time.perf_counter() < due:
                time.sleep(0.0002)
            sent.append(time.perf_counter())
            send(SIZE)
    arrived = json.loads(read_pipe(r))[before:]
    os.wait()
    cli.close()
    delays = [(a - s) * 1e3 for a, s in zip(arrived, sent)]
    for i, o in enumerate(OFFSETS_MS):
        xs = sorted(delays[j] for j in range(i + 5 * len(OFFSETS_MS), len(delays), len(OFFSETS_MS)))
        print("message at +%.1f ms: delivered after %.1f ms (median; %.1f to %.1f)"
              % (o, xs[len(xs) // 2], xs[0], xs[-1]))


def read_all(conn, total, w):
    """The reader (a child process): arrival times of `total` messages, to the pipe `w`."""
    conn.setblocking(False)
    ep = select.epoll()
    ep.register(conn.fileno(), select.EPOLLIN)
    arrived, buf, need = [], b"", None
    while len(arrived) < total:
        ep.poll(0.05)
        while True:
            want = 24 if need is None else need
            try:
                chunk = conn.recv(want - len(buf))
            except BlockingIOError:
                break
            buf += chunk
            if len(buf) == want:
                if need is None:
                    need = struct.unpack("<q", buf[16:24])[0]
                else:
                    arrived.append(time.perf_counter())
                    need = None
                buf = b""
    os.write(w, json.dumps(arrived).encode())
    os._exit(0)


def read_pipe(r):
    data = b""
    while True:
        chunk = os.read(r, 1 << 20)
        if not chunk:
            return data
        data += chunk
        try:
            json.loads(data)
            return data
        except ValueError:
            continue


if __name__ == "__main__":
    main()
