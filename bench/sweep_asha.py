#!/usr/bin/env python3
"""ASHA against random search without early stopping, on a training script with a learning curve.

The script trains a small logistic-regression model with SGD (pure Python, a fixed synthetic
dataset) and logs the validation loss after each of its 27 epochs; its hyperparameters are
the learning rate, momentum and L2 penalty. Both sweeps run through Ferry on the local target,
2 trials at a time, with the same random-sampling seed (so ASHA sees the same configurations
first, then more):

Anchor: random search, 30 trials trained to the end (30 x 27 = 810 epochs); its best
        validation loss B.
Ferry:  random sampling with ASHA (grace_period 1, reduction_factor 3, max_t 27), up to 150
        trials; the epochs it had spent (all trials' reports, in time order) when a trial
        first reported a loss <= B.
Goal:   ASHA reaches B using <= 1/5 of random search's epochs. Repeated over seeds.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, Server  # noqa: E402

TRAIN = """\
import argparse, math, random, time
from ferry import Run

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--momentum", type=float)
p.add_argument("--l2", type=float)
p.add_argument("--epochs", type=int, default=27)
p.add_argument("--epoch-seconds", type=float, default=0.0)  # a longer epoch, as on real data
a = p.parse_args()

rng = random.Random(1234)  # the same data for every trial
w_true = [rng.gauss(0, 1) for _ in range(6)]
def sample(n):
    out = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(6)]
        z = sum(wi * xi for wi, xi in zip(w_true, x)) + rng.gauss(0, 0.8)
        out.append((x, 1.0 if z > 0 else 0.0))
    return out
train, val = sample(160), sample(200)

def loss(w, b, data):
    total = 0.0
    for x, y in data:
        z = max(-30.0, min(30.0, sum(wi * xi for wi, xi in zip(w, x)) + b))
        q = 1 / (1 + math.exp(-z))
        total -= y * math.log(q + 1e-12) + (1 - y) * math.log(1 - q + 1e-12)
    return total / len(data)

run = Run.get_context()
w, b, vw, vb = [0.0] * 6, 0.0, [0.0] * 6, 0.0
order = list(range(len(train)))
for epoch in range(a.epochs):
    random.Random(epoch).shuffle(order)
    for i in order:
        x, y = train[i]
        z = max(-30.0, min(30.0, sum(wi * xi for wi, xi in zip(w, x)) + b))
        g = 1 / (1 + math.exp(-z)) - y
        for k in range(6):
            vw[k] = a.momentum * vw[k] - a.lr * (g * x[k] + a.l2 * w[k])
            w[k] += vw[k]
        vb = a.momentum * vb - a.lr * g
        b += vb
    run.log("val_loss", min(loss(w, b, val), 100.0))
    time.sleep(a.epoch_seconds)
"""

RUNCONFIG = """\
script: train.py
arguments: [--epoch-seconds, '{epoch}']
target: local
framework: Python
environment:
  python:
    userManagedDependencies: true
    interpreterPath: {python}
"""

HDCONFIG = """\
sampling:
  type: random
  seed: {seed}
  parameter_space:
  - name: --lr
    expression: loguniform
    values: [-9, 0]
  - name: --momentum
    expression: uniform
    values: [0, 0.95]
  - name: --l2
    expression: loguniform
    values: [-12, -2]
{policy}
primary_metric_name: val_loss
primary_metric_goal: Minimize
max_total_runs: {n}
max_concurrent_runs: 2
"""

ASHA = """\
policy:
  type: ASHA
  grace_period: {grace}
  reduction_factor: {rf}
  max_t: 27
"""


TOLERANCE = 0.005  # also reported: epochs until within 0.5% of random search's best


def run_sweep(server: Server, home: str, src: str, name: str) -> list[tuple[float, float]]:
    """Runs the sweep file `name`; returns every report (time, value) of every trial."""
    out = subprocess.run([FERRY, "--home", home, "run", "submit-hyperdrive", "-c", "local",
                          "--hyperdrive-configuration-name", name, "-d", src],
                         cwd=src, check=True, capture_output=True, text=True).stdout.strip()
    sweep_id = out.splitlines()[-1]
    while server.request("GET", f"/api/v1/runs/{sweep_id}")["status"] not in ("Completed", "Failed", "Canceled"):
        time.sleep(0.2)
    s = server.request("GET", f"/api/v1/sweeps/{sweep_id}")
    points = []
    for t in s["trials"]:
        m = server.request("GET", f"/api/v1/runs/{t['id']}/metrics?key=val_loss")["metrics"].get("val_loss", [])
        points += [(p["time"], float(p["value"])) for p in m]
    return sorted(points)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epoch-seconds", type=float, default=0.1,
                    help="each epoch's extra time (the policy must be able to act while a trial trains)")
    ap.add_argument("--random-trials", type=int, default=30)
    ap.add_argument("--asha-trials", type=int, default=150)
    ap.add_argument("--grace-period", type=int, default=1)
    ap.add_argument("--reduction-factor", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-asha-")
    fractions, near_fractions, reached = [], [], 0
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, ".azureml"))
        with open(os.path.join(src, "train.py"), "w") as f:
            f.write(TRAIN)
        with open(os.path.join(src, ".azureml", "local.runconfig"), "w") as f:
            f.write(RUNCONFIG.format(python=PYTHON, epoch=args.epoch_seconds))
        with Server(home) as server:
            for seed in range(1, args.seeds + 1):
                for name, policy, n in (("random", "", args.random_trials), ("asha", ASHA.format(grace=args.grace_period, rf=args.reduction_factor),
                                                                        args.asha_trials)):
                    with open(os.path.join(src, ".azureml", name + ".yml"), "w") as f:
                        f.write(HDCONFIG.format(seed=seed, policy=policy, n=n))
                rnd = run_sweep(server, home, src, "random")
                best = min(v for _, v in rnd)
                asha = run_sweep(server, home, src, "asha")
                hit = next((i + 1 for i, (_, v) in enumerate(asha) if v <= best), None)
                near = next((i + 1 for i, (_, v) in enumerate(asha) if v <= best * (1 + TOLERANCE)), None)
                if hit is not None:
                    reached += 1
                    fractions.append(hit / len(rnd))
                if near is not None:
                    near_fractions.append(near / len(rnd))
                print(f"seed {seed}: random search best {best:.4f} in {len(rnd)} epochs; ASHA used {len(asha)} epochs "
                      f"({len(asha) / len(rnd):.1%}), best {min(v for _, v in asha):.4f}; "
                      + (f"reached it after {hit} epochs ({hit / len(rnd):.1%})" if hit else "did not reach it")
                      + (f"; within {TOLERANCE:.1%} after {near} ({near / len(rnd):.1%})" if near else ""),
                      flush=True)
        near_mean = statistics.mean(near_fractions) if near_fractions else float("nan")
        mean = statistics.mean(fractions) if fractions else float("nan")
        worst = max(fractions) if fractions else float("nan")
        print(f"ASHA reached random search's best in {reached} of {args.seeds} seeds, with {mean:.1%} of its epochs "
              f"on average (worst {worst:.1%}); goal <= 20%; within {TOLERANCE:.1%} of it in {len(near_fractions)} seeds "
              f"with {near_mean:.1%}")
        print(f"RESULT seeds={args.seeds} reached={reached} mean_fraction={mean:.3f} worst_fraction={worst:.3f} "
              f"random_epochs={args.random_trials * 27} near_reached={len(near_fractions)} near_mean_fraction={near_mean:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
