#!/usr/bin/env python3
"""ASHA against random search without early stopping, on a training script with a learning curve.

The script trains a one-hidden-layer network (numpy, minibatch SGD) on a fixed two-spirals
dataset and logs the validation loss after each of its 27 epochs; its hyperparameters are
the learning rate, the hidden width and the L2 penalty. Both sweeps run through Ferry on the local target,
2 trials at a time, with the same random-sampling seed (so ASHA sees the same configurations
first, then more):

Anchor: random search, 81 trials trained to the end (81 x 27 = 2,187 epochs); its best
        validation loss B.
Ferry:  random sampling with ASHA (grace_period 3, reduction_factor 3, max_t 27), up to 243
        trials; the epochs it had spent (all trials' reports, in time order) when a trial
        first reported a loss <= B. (grace_period 1 culls the best configurations here: a
        high learning rate makes the first epoch's loss noisy.)
Goal:   ASHA reaches B using <= 1/5 of random search's epochs. Repeated over seeds.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Server, run_sweep, sweep_source  # noqa: E402

TRAIN = """\
import argparse, time
import numpy as np
from ferry import Run

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--width", type=int)
p.add_argument("--l2", type=float)
p.add_argument("--epochs", type=int, default=27)
p.add_argument("--epoch-seconds", type=float, default=0.0)
a = p.parse_args()

data = np.random.default_rng(7)
def spirals(n):
    t = np.sqrt(data.uniform(0, 1, n)) * 3 * np.pi
    cls = data.integers(0, 2, n)
    r = t / (3 * np.pi)
    ang = t + np.pi * cls
    x = np.stack([r * np.cos(ang), r * np.sin(ang)], 1) + data.normal(0, 0.04, (n, 2))
    return x, cls.astype(float)
xtr, ytr = spirals(600)
xva, yva = spirals(600)

rng = np.random.default_rng(0)  # the same initialisation for a given width
w1 = rng.normal(0, 1, (2, a.width)); b1 = np.zeros(a.width)
w2 = rng.normal(0, 1 / np.sqrt(a.width), (a.width, 1)); b2 = np.zeros(1)

def forward(x):
    h = np.tanh(x @ w1 + b1)
    return h, 1 / (1 + np.exp(-np.clip(h @ w2 + b2, -30, 30)))[:, 0]

def loss(x, y):
    q = forward(x)[1]
    return float(-np.mean(y * np.log(q + 1e-9) + (1 - y) * np.log(1 - q + 1e-9)))

run = Run.get_context()
order = np.arange(len(xtr))
for epoch in range(a.epochs):
    np.random.default_rng(epoch).shuffle(order)
    for i in range(0, len(order), 20):
        idx = order[i:i + 20]
        x, y = xtr[idx], ytr[idx]
        h, q = forward(x)
        g = (q - y)[:, None] / len(idx)
        gw2 = h.T @ g + a.l2 * w2; gb2 = g.sum(0)
        gh = (g @ w2.T) * (1 - h * h)
        gw1 = x.T @ gh + a.l2 * w1; gb1 = gh.sum(0)
        w1 -= a.lr * gw1; b1 -= a.lr * gb1; w2 -= a.lr * gw2; b2 -= a.lr * gb2
    v = loss(xva, yva)
    run.log("val_loss", min(v, 100.0) if v == v else 100.0)
    time.sleep(a.epoch_seconds)
"""

HDCONFIG = """\
sampling:
  type: random
  seed: {seed}
  parameter_space:
  - name: --lr
    expression: loguniform
    values: [-5, 1.5]
  - name: --width
    expression: choice
    values: [8, 16, 32, 64, 128]
  - name: --l2
    expression: loguniform
    values: [-12, -4]
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


def reports(server: Server, home: str, src: str, name: str) -> list[tuple[float, float]]:
    """Runs the sweep file `name`; returns every report (time, value) of every trial."""
    s = server.request("GET", f"/api/v1/sweeps/{run_sweep(server, home, src, name, poll_s=0.2)}")
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
    ap.add_argument("--random-trials", type=int, default=81)
    ap.add_argument("--asha-trials", type=int, default=243)
    ap.add_argument("--grace-period", type=int, default=3)
    ap.add_argument("--reduction-factor", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-asha-")
    fractions, near_fractions, reached = [], [], 0
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        sweep_source(src, "train.py", TRAIN, ("--epoch-seconds", args.epoch_seconds))
        with Server(home) as server:
            for seed in range(1, args.seeds + 1):
                for name, policy, n in (("random", "", args.random_trials), ("asha", ASHA.format(grace=args.grace_period, rf=args.reduction_factor),
                                                                        args.asha_trials)):
                    with open(os.path.join(src, ".azureml", name + ".yml"), "w") as f:
                        f.write(HDCONFIG.format(seed=seed, policy=policy, n=n))
                rnd = reports(server, home, src, "random")
                best = min(v for _, v in rnd)
                asha = reports(server, home, src, "asha")
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
