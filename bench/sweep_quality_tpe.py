#!/usr/bin/env python3
"""Sampler quality, third contender: Optuna's TPE sampler (default settings) on the same
problems as bench/sweep_quality.cc -- Branin (2-D, x0 in [-5, 10], x1 in [0, 15], optimum
0.397887) and Hartmann-6 (6-D, [0, 1]^6, optimum -3.32237) -- with the same seeds count and
budgets: the mean over seeds of the best value after 50/100/200 evaluations, and the time of
one suggestion (one `ask`) at 200 observations (the last ask of each seed, averaged).

    sweep_quality_tpe.py [--seeds 20] [--budget 200] [--problem branin|hartmann6] [--first-seed 0]
                         [--per-seed]

Prints a table, then RESULT lines in sweep_quality's format (sampler=tpe, plus optuna=VERSION);
the options mean what they mean there (bench/sweep_quality.sh passes its own to both). Needs optuna
(bench/requirements-bench.txt; bench/run_all.sh installs it into .venv on demand).
"""
import argparse
import math
import sys
import time

try:
    import optuna
except ImportError:
    sys.exit("sweep_quality_tpe: optuna is not installed (pip install -r bench/requirements-bench.txt)")


def branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6))
        total += ALPHA[i] * math.exp(-inner)
    return -total


PROBLEMS = [
    ("branin", [(-5.0, 10.0), (0.0, 15.0)], branin),
    ("hartmann6", [(0.0, 1.0)] * 6, hartmann6),
]


def run(bounds, f, seed, budget):
    """Best value after each evaluation, and the time of the last ask in ms."""
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    dists = {f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    best, b, last_ms = [], math.inf, 0.0
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        last_ms = (time.perf_counter() - t0) * 1000
        x = [trial.params[f"x{i}"] for i in range(len(bounds))]
        y = f(x)
        study.tell(trial, y)
        b = min(b, y)
        best.append(b)
    return best, last_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--problem", choices=[p[0] for p in PROBLEMS])
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--per-seed", action="store_true")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(f"sweep_quality_tpe: Optuna {optuna.__version__} TPESampler, mean best value over {args.seeds} seeds "
          "(lower is better)")
    print(f"{'problem':<10} {'sampler':<9} {'@50':>10} {'@100':>10} {'@200':>10} {'ms/suggestion':>14}")
    for name, bounds, f in PROBLEMS:
        if args.problem and args.problem != name:
            continue
        m50 = m100 = m200 = ms = 0.0
        for s in range(args.first_seed, args.first_seed + args.seeds):
            best, last = run(bounds, f, s, args.budget)
            b50, b100 = best[min(49, len(best) - 1)], best[min(99, len(best) - 1)]
            m50 += b50
            m100 += b100
            m200 += best[-1]
            ms += last
            if args.per_seed:
                print(f"  seed {s:2d} {'tpe':<9} {b50:10.4f} {b100:10.4f} {best[-1]:10.4f} {last:8.1f} ms")
        m50, m100, m200, ms = (v / args.seeds for v in (m50, m100, m200, ms))
        print(f"{name:<10} {'tpe':<9} {m50:10.4f} {m100:10.4f} {m200:10.4f} {ms:14.1f}")
        print(f"RESULT problem={name} sampler=tpe best50={m50:.4f} best100={m100:.4f} best200={m200:.4f} "
              f"ms_at_{args.budget}={ms:.1f} seeds={args.seeds} optuna={optuna.__version__}", flush=True)


if __name__ == "__main__":
    main()
