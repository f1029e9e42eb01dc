#!/usr/bin/python3
"""Memory a server spends per idle keep-alive connection.

Reads the server's VmRSS, opens COUNT connections to 127.0.0.1:PORT, sends one
`GET PATH` on each and reads its response, then leaves them idle and reads
VmRSS again: (after - before) / COUNT is the cost of one idle connection.
Checks the server kept every connection open, then closes them all.

    bench/idle_conns.py --pid 1234 --port 8080 [--count 10000]

The last line of stdout is key=value pairs for scripts.
"""
import argparse
import resource
import selectors
import socket
import struct
import sys
import time


def fail(msg):
    print(f"idle_conns: {msg}", file=sys.stderr)
    sys.exit(1)


def rss_kib(pid):
    """VmRSS of process pid, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError as e:
        fail(f"cannot read /proc/{pid}/status: {e}")
    fail(f"no VmRSS in /proc/{pid}/status")


def raise_nofile(need):
    """Raises RLIMIT_NOFILE to at least need, the hard limit too when root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            fail(f"open-file hard limit is {hard}, need {need}: run as root or raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class Conn:
    __slots__ = ("sock", "out", "inbuf", "done")

    def __init__(self, sock, request):
        self.sock = sock
        self.out = request
        self.inbuf = b""
        self.done = False

    def response_complete(self):
        """True once a whole response is buffered; fails on a non-200."""
        head_end = self.inbuf.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self.inbuf[:head_end].decode("latin-1")
        status = head.split("\r\n", 1)[0]
        if status.split(" ")[1:2] != ["200"]:
            fail(f"unexpected response: {status!r}")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return len(self.inbuf) >= head_end + 4 + length


def open_idle(port, count, path, window, deadline):
    """Opens count connections, each with one request answered; at most
    window of them in progress at a time. Returns the sockets."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    idle = []
    started = 0
    in_progress = 0
    while len(idle) < count:
        while started < count and in_progress < window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE, Conn(s, request))
            started += 1
            in_progress += 1
        if time.monotonic() > deadline:
            fail(f"timed out with {len(idle)} of {count} connections ready")
        for key, events in sel.select(timeout=1.0):
            c = key.data
            try:
                if events & selectors.EVENT_WRITE:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        fail(f"connect failed after {len(idle)} connections: {err}")
                    c.out = c.out[c.sock.send(c.out):]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                data = c.sock.recv(65536)
            except OSError as e:
                fail(f"socket error after {len(idle)} connections: {e}")
            if not data:
                fail(f"server closed a connection after {len(idle)} were ready")
            c.inbuf += data
            if c.response_complete():
                sel.unregister(c.sock)
                idle.append(c.sock)
                in_progress -= 1
    sel.close()
    return idle


def count_closed(socks):
    """How many of socks the server has closed (readable: EOF or data)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed = len(sel.select(timeout=0))
    sel.close()
    return closed


def close_all(socks):
    """Closes with RST (linger 0) so no TIME_WAIT ties up local ports."""
    linger = struct.pack("ii", 1, 0)
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int, required=True, help="server process to measure")
    ap.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--path", default="/health")
    ap.add_argument("--window", type=int, default=256, help="connections in progress at once")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to open them all")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before each RSS reading")
    args = ap.parse_args()

    raise_nofile(args.count + 64)
    time.sleep(args.settle)
    before = rss_kib(args.pid)
    socks = open_idle(args.port, args.count, args.path, args.window,
                      time.monotonic() + args.timeout)
    try:
        time.sleep(args.settle)
        after = rss_kib(args.pid)
        closed = count_closed(socks)
    finally:
        close_all(socks)
    if closed:
        fail(f"server closed {closed} of {args.count} idle connections")
    per_conn = (after - before) / args.count
    print(f"RSS {before} KiB -> {after} KiB with {args.count} idle connections: "
          f"{per_conn:.2f} KiB per connection")
    print(f"conns={args.count} rss_before_kib={before} rss_after_kib={after} "
          f"kib_per_conn={per_conn:.2f}")


if __name__ == "__main__":
    main()
