#!/usr/bin/env python3
"""Server memory against large request bodies (issue 17, item 3).

1. Ten unauthenticated POSTs that announce and send 1 GiB each (the client keeps sending
   until the server closes): the server answers 401 from the headers and never buffers them.
2. Ten authenticated POSTs of 1 GiB to a small JSON route (4 MiB limit): 413 before the body.
3. One authenticated 1 GiB blob upload (accepted): it streams into the blob store.
Anchor: the server's idle RSS, measured first in the same run. Goal: RSS after (1) <= 2x idle.
Reports RSS after each phase and the peak (VmHWM) after the upload.

Output: lines, then one ``RESULT key=value ...`` line. A benchmark, not a test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import tempfile
import time
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Server  # noqa: E402

GIB = 1 << 30


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def send_body(url: str, head: str, total: int, chunk_source=None) -> tuple[str, int]:
    """Sends head then up to `total` body bytes until the server answers and closes; returns
    (status line, bytes sent)."""
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(head.encode())
    chunk = b"\0" * (1 << 20)
    sent = 0
    answer = b""
    s.settimeout(0.0)
    while sent < total:
        n = min(len(chunk), total - sent)
        try:
            data = chunk_source(sent, n) if chunk_source else chunk[:n]
            sent += s.send(data)
        except BlockingIOError:
            time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            break
        try:  # the answer is collected, but the client keeps sending as a careless one would
            answer += s.recv(65536)
        except BlockingIOError:
            pass
        except ConnectionResetError:
            break
    s.settimeout(30)
    try:
        while b"\r\n" not in answer:
            got = s.recv(65536)
            if not got:
                break
            answer += got
    except OSError:
        pass
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="ferry-bench-bodies-")
    try:
        with Server(os.path.join(tmp, "home")) as ferry:
            token = ferry.secret("token")
            pid = ferry.request("GET", "/api/v1/health")["pid"]
            for _ in range(20):
                ferry.request("GET", "/api/v1/runs")
            time.sleep(1)
            idle = status_kib(pid, "VmRSS")
            statuses = []
            t0 = time.perf_counter()
            for _ in range(10):
                st, sent = send_body(ferry.url, "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     f"Content-Length: {GIB}\r\n\r\n", GIB)
                statuses.append(st)
            unauth_s = time.perf_counter() - t0
            after_unauth = status_kib(pid, "VmRSS")
            for _ in range(10):
                st, _ = send_body(ferry.url, f"POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                                  f"Content-Type: application/json\r\nContent-Length: {GIB}\r\n\r\n", GIB)
                statuses.append(st)
            after_large = status_kib(pid, "VmRSS")
            # An accepted 1 GiB upload: a blob of repeating 1 MiB pieces (its hash computed the same way).
            piece = os.urandom(1 << 20)
            h = hashlib.sha256()
            for _ in range(1024):
                h.update(piece)
            digest = h.hexdigest()
            header = f"{digest} {GIB}\n".encode()
            body_len = len(header) + GIB

            def source(offset, n):
                if offset < len(header):
                    return header[offset:offset + n]
                o = (offset - len(header)) % len(piece)
                return piece[o:o + n]

            t0 = time.perf_counter()
            st, sent = send_body(ferry.url, f"POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                                 f"Content-Type: application/octet-stream\r\nContent-Length: {body_len}\r\n\r\n",
                                 body_len, source)
            upload_s = time.perf_counter() - t0
            after_upload = status_kib(pid, "VmRSS")
            peak = status_kib(pid, "VmHWM")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"idle RSS {idle / 1024:.1f} MiB")
    print(f"after 10 unauthenticated 1 GiB bodies ({', '.join(sorted(set(statuses[:10])))}; {unauth_s:.1f} s): "
          f"{after_unauth / 1024:.1f} MiB -> {after_unauth / idle:.2f}x idle")
    print(f"after 10 authenticated 1 GiB bodies to a 4 MiB route ({', '.join(sorted(set(statuses[10:])))}): "
          f"{after_large / 1024:.1f} MiB -> {after_large / idle:.2f}x idle")
    print(f"after an accepted 1 GiB blob upload ({st}, {GIB / upload_s / (1 << 20):.0f} MiB/s): "
          f"{after_upload / 1024:.1f} MiB; peak RSS (VmHWM) {peak / 1024:.1f} MiB")
    print(f"RESULT idle_mib={idle / 1024:.1f} after_unauth_mib={after_unauth / 1024:.1f} "
          f"unauth_ratio={after_unauth / idle:.2f} after_large_mib={after_large / 1024:.1f} "
          f"large_ratio={after_large / idle:.2f} upload_status=\"{st}\" upload_mib_s={GIB / upload_s / (1 << 20):.0f} "
          f"after_upload_mib={after_upload / 1024:.1f} peak_mib={peak / 1024:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
