"""A stand-in for nvidia-smi that answers the two queries Ferry makes from the fake driver's
state (fake_libcuda.c): memory a live process holds on a device, and 100 % utilisation while
one ran a kernel in the last two seconds. tests/integration/test_gpu_harness.py installs it as
`nvidia-smi` with STATE_DIR and DEVICES filled in; it proves nothing about real hardware."""

import os
import sys
import time

STATE_DIR = "@STATE_DIR@"
DEVICES = int("@DEVICES@")


def alive(pid: str) -> bool:
    return os.path.exists(f"/proc/{pid}")


def held(kind: str, index: int) -> "list[tuple[str, float]]":
    out = []
    for name in os.listdir(STATE_DIR):
        prefix, _, pid = name.partition(".")
        if prefix == f"{kind}{index}" and alive(pid):
            try:
                path = os.path.join(STATE_DIR, name)
                out.append((open(path).read().strip(), os.path.getmtime(path)))
            except OSError:
                pass
    return out


def main() -> int:
    query = ids = ""
    for a in sys.argv[1:]:
        if a.startswith("--query-gpu="):
            query = a.split("=", 1)[1]
        elif a.startswith("--id="):
            ids = a.split("=", 1)[1]
    indices = [int(i) for i in ids.split(",")] if ids else list(range(DEVICES))
    if query == "index,name,uuid,memory.total":
        for i in indices:
            print(f"{i}, Fake GPU {i}, GPU-fa4e0000-0000-0000-0000-0000000000{i:02x}, 81920")
    elif query == "index,utilization.gpu,memory.used":
        for i in indices:
            mem = sum(int(v) for v, _ in held("mem", i))
            busy = any(time.time() - t < 2 for _, t in held("busy", i))
            print(f"{i}, {100 if busy else 0}, {mem}")
    else:
        print(f"unexpected query: {' '.join(sys.argv[1:])}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
