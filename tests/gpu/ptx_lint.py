"""Checks that PTX text is well formed where no ptxas is at hand (a machine without the CUDA
toolkit, like CI's): the header directives, each kernel's parameters, registers and labels, and
that every instruction is one this checker knows and ends with ';'. It catches slips in the
kernel text; it is not an assembler (tests/integration/test_gpu_harness.py also runs ptxas
when one is on PATH, and on a GPU the driver's JIT is the real judge).

    python3 tests/gpu/ptx_lint.py [FILE]     # default: the PTX of tests/gpu/cuda.py
"""

from __future__ import annotations

import re
import sys

# The opcodes (first dotted component) of the instructions PTX kernels like ours use.
OPCODES = {"ld", "st", "mov", "add", "sub", "mul", "mad", "setp", "selp", "bra", "ret", "cvta", "cvt", "and", "or",
           "xor", "shl", "shr", "min", "max", "div", "rem", "exit", "bar", "atom", "red", "not", "neg", "abs"}
SPECIAL_REGISTERS = {"%tid", "%ntid", "%ctaid", "%nctaid", "%clock", "%clock64", "%laneid", "%warpid",
                     "%globaltimer", "%smid"}


def lint(ptx: str, entries=()) -> "list[str]":
    """Problems found, as 'line N: what'; empty when the text is well formed."""
    problems: "list[str]" = []
    lines = ptx.splitlines()
    header = {}
    for n, raw in enumerate(lines, 1):
        line = raw.split("//")[0].strip()
        for d in (".version", ".target", ".address_size"):
            if line.startswith(d + " "):
                header[d] = (n, line[len(d):].strip())
    if not re.fullmatch(r"\d+\.\d+", header.get(".version", (0, ""))[1]):
        problems.append("line 1: .version X.Y is missing or malformed")
    if not re.fullmatch(r"sm_\d+[a-z]?", header.get(".target", (0, ""))[1]):
        problems.append("line 1: .target sm_NN is missing or malformed")
    if header.get(".address_size", (0, ""))[1] != "64":
        problems.append("line 1: .address_size 64 is missing")
    order = [header.get(d, (10**9, ""))[0] for d in (".version", ".target", ".address_size")]
    if order != sorted(order):
        problems.append("line 1: .version, .target and .address_size must come first, in that order")

    # Kernels: ".visible .entry name(" params ")" "{" body "}".
    found = []
    i = 0
    while i < len(lines):
        m = re.match(r"\s*\.visible\s+\.entry\s+(\w+)\s*\(\s*$", lines[i])
        if not m:
            if lines[i].strip().startswith(".entry") or ".entry" in lines[i]:
                problems.append(f"line {i + 1}: malformed .entry line: {lines[i].strip()!r}")
            i += 1
            continue
        name = m.group(1)
        found.append(name)
        params = []
        i += 1
        while i < len(lines) and lines[i].strip() != ")":
            pm = re.fullmatch(r"\.param\s+\.(u|s|b)(8|16|32|64)\s+(\w+),?", lines[i].strip())
            if not pm:
                problems.append(f"line {i + 1}: malformed parameter of {name}: {lines[i].strip()!r}")
            else:
                params.append(pm.group(3))
                last = lines[i].strip().endswith(",")
                nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
                if last != (nxt != ")"):
                    problems.append(f"line {i + 1}: parameters of {name} must be separated by commas")
            i += 1
        i += 1
        if i >= len(lines) or lines[i].strip() != "{":
            problems.append(f"line {i + 1}: '{{' expected after the parameters of {name}")
            continue
        start = i + 1
        depth, j = 1, i + 1
        while j < len(lines) and depth:
            depth += lines[j].count("{") - lines[j].count("}")
            j += 1
        if depth:
            problems.append(f"line {start}: the body of {name} is not closed")
            break
        problems += lint_body(name, lines, start, j - 1, params)
        i = j
    for e in entries:
        if e not in found:
            problems.append(f"line 1: no kernel '{e}' (found {found})")
    return problems


def lint_body(name: str, lines, start: int, end: int, params) -> "list[str]":
    """Lines [start, end) hold the body of kernel `name` (end: its closing brace)."""
    problems = []
    declared = {}  # register prefix -> count
    labels, targets = set(), []
    for n in range(start, end):
        line = lines[n].split("//")[0].strip()
        where = f"line {n + 1}"
        if not line:
            continue
        m = re.fullmatch(r"\.reg\s+\.(pred|b16|b32|b64|u32|u64|s32|s64|f32|f64)\s+(%\w+)<(\d+)>;", line)
        if line.startswith(".reg"):
            if not m:
                problems.append(f"{where}: malformed register declaration {line!r}")
            else:
                declared[m.group(2)] = int(m.group(3))
            continue
        if re.fullmatch(r"\$?\w+:", line):
            labels.add(line[:-1])
            continue
        if not line.endswith(";"):
            problems.append(f"{where}: an instruction must end with ';': {line!r}")
            continue
        body = line[:-1].strip()
        if body.startswith("@"):
            guard, _, body = body.partition(" ")
            body = body.strip()
            check_register(guard[1:].lstrip("!"), declared, where, problems)
        op = body.split()[0]
        if op.split(".")[0] not in OPCODES:
            problems.append(f"{where}: unknown instruction {op!r}")
        operands = body[len(op):].strip()
        if op.startswith("bra"):
            targets.append((where, operands))
            continue
        for p in re.findall(r"\[(\w+)\]", operands):
            if op.startswith("ld.param") and p not in params:
                problems.append(f"{where}: {p!r} is not a parameter of {name}")
        for reg in re.findall(r"%\w+", operands):
            if reg in SPECIAL_REGISTERS or reg.rstrip(".xyz") in SPECIAL_REGISTERS:
                continue
            check_register(reg, declared, where, problems)
        if op.startswith("ld.param") and not re.search(r"\[\w+\]", operands):
            problems.append(f"{where}: ld.param needs [parameter]")
    for where, target in targets:
        if target not in labels:
            problems.append(f"{where}: branch to undefined label {target!r} in {name}")
    return problems


def check_register(reg: str, declared, where: str, problems) -> None:
    m = re.fullmatch(r"(%[a-z]+)(\d+)", reg)
    if not m:
        problems.append(f"{where}: malformed register {reg!r}")
        return
    prefix, index = m.group(1), int(m.group(2))
    if prefix not in declared:
        problems.append(f"{where}: register {reg} is not declared")
    elif index >= declared[prefix]:
        problems.append(f"{where}: register {reg} is past its declaration {prefix}<{declared[prefix]}>")


def main() -> int:
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            text, entries = f.read(), ()
    else:
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import cuda

        text, entries = cuda.PTX, cuda.KERNELS
    problems = lint(text, entries)
    for p in problems:
        print(p)
    print("PTX well formed" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
