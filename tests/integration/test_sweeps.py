"""Hyperparameter sweeps end to end: `ferry run submit-hyperdrive` with Azure ML's hdconfig.yml on the
local target, early termination observed on real processes, a server killed mid-sweep, bad specs."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import TERMINAL, wait_until

# Azure ML's documented sample, as written there.
AZURE_SAMPLE = """\
sampling:
    type: random
    parameter_space:
    - name: --penalty
      expression: choice
      values: [0.5, 1, 1.5]
policy:
    type: BanditPolicy
    evaluation_interval: 1
    slack_factor: 0.2
primary_metric_name: Accuracy
primary_metric_goal: Maximize
max_total_runs: 8
max_concurrent_runs: 2
max_duration_minutes: 100
"""

# A training script that knows nothing of sweeps: its accuracy peaks at penalty 1.1.
TRAIN = """\
import argparse, time
from ferry import Run

p = argparse.ArgumentParser()
p.add_argument("--penalty", type=float, required=True)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
run = Run.get_context()
for epoch in range(a.epochs):
    run.log("Accuracy", 1 - abs(a.penalty - 1.1) / 2 - 0.1 / (epoch + 1))
    time.sleep(a.sleep)
print("trained with penalty", a.penalty)
"""

RUNCONFIG = """\
script: train.py
arguments: [--epochs, '{epochs}', --sleep, '{sleep}']
target: local
framework: Python
environment:
  python:
    userManagedDependencies: true
    interpreterPath: {python}
"""


def setup(src: Path, hdconfig: str, epochs: int = 3, sleep: float = 0.0) -> None:
    (src / "train.py").write_text(TRAIN)
    (src / ".azureml").mkdir(exist_ok=True)
    (src / ".azureml" / "local.runconfig").write_text(RUNCONFIG.format(epochs=epochs, sleep=sleep, python=sys.executable))
    (src / ".azureml" / "hdconfig.yml").write_text(textwrap.dedent(hdconfig))


def submit(ws, src: Path, *extra, check=True, hd="hdconfig"):
    r = ws.cli("run", "submit-hyperdrive", "-e", "hd", "-c", "local", "--hyperdrive-configuration-name", hd,
               "-d", src, *extra, check=check, timeout=300)
    m = re.search(r"Sweep (\S+) submitted", r.stderr)
    return (m.group(1) if m else None), r


def sweep(ws, sweep_id: str) -> dict:
    status, body, _ = ws.api("GET", f"/sweeps/{sweep_id}")
    assert status == 200, body
    return body


def wait_sweep(ws, sweep_id: str, timeout: float = 180) -> dict:
    return wait_until(lambda: (lambda s: s if s["status"] in TERMINAL else None)(sweep(ws, sweep_id)), timeout,
                      f"sweep {sweep_id} to end")


def accuracy_points(ws, run_id: str) -> list[float]:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics?key=Accuracy")
    assert status == 200, body
    return [p["value"] for p in body["metrics"].get("Accuracy", [])]


def test_azure_sample_sweep_runs_every_trial_and_reports_the_best(workspace, src):
    setup(src, AZURE_SAMPLE)
    sweep_id, r = submit(workspace, src, "--wait")
    assert sweep_id, r.stderr
    s = sweep(workspace, sweep_id)
    assert s["status"] == "Completed", s
    assert s["kind"] == "sweep" and s["sweep"]["policy"] == "BanditPolicy"
    trials = s["trials"]
    # max_total_runs 8 over 3 values: random sampling of an all-discrete space draws without
    # replacement, so each value once and the sweep ends with the space (Azure: "there may be
    # fewer runs when the sample space is smaller").
    assert len(trials) == 3 and s["sweep"]["max_total_runs"] == 3, s["sweep"]
    assert sorted(t["parameters"]["--penalty"] for t in trials) == ["0.5", "1", "1.5"]
    assert [t["id"] for t in trials] == [f"{sweep_id}_{k}" for k in range(3)]
    for t in trials:
        run = workspace.run(t["id"])
        assert run["parent_id"] == sweep_id
        value = t["parameters"]["--penalty"]
        assert value in ("0.5", "1", "1.5")
        # Fixed arguments from the run configuration, then the sampled one appended.
        assert run["arguments"] == ["--epochs", "3", "--sleep", "0.0", "--penalty", value], run["arguments"]
        assert run["params"]["penalty"] == value
        assert t["status"] in ("Completed", "Canceled"), t
    # The best trial is the one with the highest Accuracy any trial logged.
    best_value = max(max(accuracy_points(workspace, t["id"])) for t in trials)
    assert s["best"]["metric"] == best_value
    assert workspace.run(sweep_id)["tags"]["best_child_run_id"] == s["best"]["id"]
    best = workspace.cli_json("sweep", "best", sweep_id)
    # Every value was tried, so the best is the one nearest the script's optimum 1.1.
    assert best["id"] == s["best"]["id"] and best["parameters"]["--penalty"] == "1"
    # Never more than max_concurrent_runs trials at once.
    events = sorted([(t["started_at"], 1) for t in trials if t["started_at"]] +
                    [(t["ended_at"], -1) for t in trials if t["started_at"]])
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    assert peak <= 2
    # The text report names progress, the best trial and each trial with its parameter.
    out = workspace.cli("sweep", "show", sweep_id).stdout
    assert "Progress:    3 of 3 trials" in out and f"Best:        {s['best']['id']}" in out, out
    assert out.count(f"{sweep_id}_") >= 3
    # Trials are not mixed into the run list; the sweep is.
    listed = [r["id"] for r in workspace.cli_json("run", "list")["runs"]]
    assert listed == [sweep_id]


def test_bandit_policy_stops_a_hopeless_trial_with_its_numbers(workspace, src):
    # Grid order: the good penalty first, alone; the bad one is then far below it at interval 1.
    setup(src, """\
        sampling:
          type: grid
          parameter_space:
          - name: --penalty
            expression: choice
            values: [1.1, 3.1]
        policy:
          type: BanditPolicy
          evaluation_interval: 1
          slack_factor: 0.2
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_concurrent_runs: 1
        """, epochs=40, sleep=0.25)
    sweep_id, r = submit(workspace, src)
    assert sweep_id, r.stderr
    s = wait_sweep(workspace, sweep_id, timeout=240)
    assert s["status"] == "Completed", s
    good, bad = s["trials"]
    assert good["status"] == "Completed" and good["reports"] == 40
    assert bad["status"] == "Canceled", bad
    assert bad["reason"].startswith("early termination: BanditPolicy at interval "), bad
    assert "< best 0.9 / (1 + 0.2) = 0.75" in bad["reason"], bad["reason"]
    assert bad["reports"] < 40  # stopped, not run to the end
    history = workspace.history(bad["id"])
    assert history[-1]["status"] == "Canceled" and history[-1]["reason"] == bad["reason"]
    assert "trained with penalty" not in workspace.log(bad["id"])
    assert s["best"]["id"] == good["id"]


def test_server_killed_mid_sweep_resumes_without_losing_or_repeating_trials(workspace, src):
    setup(src, """\
        sampling:
          type: random
          seed: 7
          parameter_space:
          - name: --penalty
            expression: uniform
            values: [0, 2]
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_total_runs: 6
        max_concurrent_runs: 2
        """, epochs=4, sleep=0.4)
    sweep_id, r = submit(workspace, src)
    assert sweep_id, r.stderr
    wait_until(lambda: len(sweep(workspace, sweep_id)["trials"]) >= 3, 120, "a third trial to start")
    workspace.kill_server()
    workspace.start_server()
    s = wait_sweep(workspace, sweep_id, timeout=240)
    assert s["status"] == "Completed", s
    ids = [t["id"] for t in s["trials"]]
    assert ids == [f"{sweep_id}_{k}" for k in range(6)], ids
    for t in s["trials"]:
        # A trial the server was launching at the very moment it died cannot be known to have
        # started: it is failed, not started twice (the sweep counts it and goes on).
        if t["status"] != "Completed":
            assert t["status"] == "Failed" and "the server stopped while launching this run" in t["error"], t
    assert sum(t["status"] == "Completed" for t in s["trials"]) >= 5, s["trials"]
    # The same seed on a server that never stopped samples the same values in the same order.
    again, r = submit(workspace, src, "--wait")
    assert again, r.stderr
    values = [t["parameters"]["--penalty"] for t in s["trials"]]
    assert values == [t["parameters"]["--penalty"] for t in sweep(workspace, again)["trials"]]
    assert len(set(values)) == 6


def test_cancel_a_sweep_cancels_its_running_trials(workspace, src):
    setup(src, AZURE_SAMPLE, epochs=400, sleep=0.25)
    sweep_id, r = submit(workspace, src)
    assert sweep_id, r.stderr
    wait_until(lambda: sum(t["status"] == "Running" for t in sweep(workspace, sweep_id)["trials"]) == 2, 120,
               "two running trials")
    out = workspace.cli("sweep", "cancel", sweep_id).stdout
    assert "cancel requested" in out
    s = wait_sweep(workspace, sweep_id)
    assert s["status"] == "Canceled"
    assert len(s["trials"]) == 2  # nothing new after the cancel
    for t in s["trials"]:
        assert t["status"] == "Canceled" and t["reason"] == f"the sweep {sweep_id} was canceled", t
    assert workspace.history(sweep_id)[-1]["reason"].startswith("canceled by the user")


def test_a_failing_trial_does_not_stop_the_sweep(workspace, src):
    setup(src, """\
        sampling:
          type: grid
          parameter_space:
          - name: --penalty
            expression: choice
            values: [1, oops, 2]
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_concurrent_runs: 1
        """)
    sweep_id, r = submit(workspace, src, "--wait")
    assert sweep_id, r.stderr
    s = sweep(workspace, sweep_id)
    assert s["status"] == "Completed"
    assert [t["status"] for t in s["trials"]] == ["Completed", "Failed", "Completed"]
    assert s["counts"] == {"Completed": 2, "Failed": 1}
    assert "invalid float value: 'oops'" in s["trials"][1]["error"]
    assert "1 failed" in workspace.history(sweep_id)[-1]["reason"]


def test_bad_sweep_specs_are_rejected_with_the_field_and_nothing_is_created(workspace, src):
    base = AZURE_SAMPLE
    cases = [
        (base.replace("expression: choice", "expression: gaussian"),
         "bad.yml:5:19: field 'sampling.parameter_space[0].expression': 'gaussian' (--penalty) is not an "
         "expression; use one of: choice, randint, uniform"),
        (base.replace("type: random", "type: grid").replace(
            "expression: choice\n      values: [0.5, 1, 1.5]", "expression: uniform\n      values: [0.5, 1.5]"),
         "bad.yml:5:19: field 'sampling.parameter_space[0].expression': grid sampling takes choice only; "
         "'--penalty' is uniform"),
        (base.replace("max_concurrent_runs: 2", "max_concurrent_runs: 0"),
         "bad.yml:14:22: field 'max_concurrent_runs': must be at least 1, got 0"),
    ]
    for text, message in cases:
        (src / "bad.yml").write_text(text)
        setup(src, AZURE_SAMPLE)
        sweep_id, r = submit(workspace, src, check=False, hd=str(src / "bad.yml"))
        assert r.returncode != 0 and sweep_id is None
        assert message in r.stderr, r.stderr
    # Bayesian with a policy is Ferry's extension; --azure-strict refuses it as Azure ML would.
    (src / "bayes.yml").write_text(base.replace("type: random", "type: bayesian"))
    _, r = submit(workspace, src, "--azure-strict", check=False, hd=str(src / "bayes.yml"))
    assert r.returncode != 0
    assert "bayes.yml:8:11: field 'policy.type': Azure ML's Bayesian sampling does not support early termination" \
        in r.stderr, r.stderr
    # The run configuration's fixed arguments must not set a sampled parameter.
    (src / ".azureml" / "dup.runconfig").write_text(
        RUNCONFIG.format(epochs=3, sleep=0, python=sys.executable).replace("--sleep", "--penalty"))
    r = workspace.cli("run", "submit-hyperdrive", "-c", "dup", "--hyperdrive-configuration-name", "hdconfig",
                      "-d", src, check=False)
    assert r.returncode != 0
    assert "argument '--penalty' of the run configuration is also sampled by the sweep " \
           "(sampling.parameter_space[0] '--penalty'); remove it from one of them" in r.stderr, r.stderr
    # The server checks too (clients other than the CLI).
    status, body, _ = workspace.api("POST", "/sweeps", json={
        "script": "train.py", "snapshot_id": "0" * 64, "sweep": {"spec": "sampling: {type: sobol}", "spec_file": "x.yml"}})
    assert status == 400 and "x.yml:1:18: field 'sampling.type': 'sobol' is not allowed" in body["error"]["message"]
    assert workspace.run_count() == 0


def test_warm_start_seeds_a_bayesian_sweep_with_earlier_trials(workspace, src):
    bayes = """\
        sampling:
          type: bayesian
          seed: 3
          parameter_space:
          - name: --penalty
            expression: uniform
            values: [0, 2]
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_total_runs: {n}
        max_concurrent_runs: 1
        """
    setup(src, bayes.format(n=4))
    first, r = submit(workspace, src, "--wait")
    assert first, r.stderr
    setup(src, bayes.format(n=1))
    cold, r = submit(workspace, src, "--wait")
    warm, r = submit(workspace, src, "--warm-start", first, "--wait")
    assert warm, r.stderr
    s = sweep(workspace, warm)
    assert s["sweep"]["warm_start"] == [first] and s["sweep"]["warm_observations"] == 4
    # Without the earlier trials the first suggestion is a random start; with them it is the model's.
    assert s["trials"][0]["parameters"] != sweep(workspace, cold)["trials"][0]["parameters"]
    # A sweep of another metric cannot seed it.
    setup(src, bayes.format(n=1).replace("Accuracy", "Loss"))
    _, r = submit(workspace, src, "--warm-start", first, check=False)
    assert r.returncode != 0
    assert f"warm start from '{first}': it optimised 'Accuracy' (Maximize), this sweep 'Loss' (Maximize)" in r.stderr


def grid_of(params: int, extra: str = "") -> str:
    """A grid of `params` parameters with 100 choices each (100^params points)."""
    values = ", ".join(str(i) for i in range(100))
    space = "".join(f"  - {{name: --p{k}, expression: choice, values: [{values}]}}\n" for k in range(params))
    return (f"sampling:\n  type: grid\n  parameter_space:\n{space}primary_metric_name: Accuracy\n"
            f"primary_metric_goal: Maximize\n{extra}")


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_a_huge_grid_is_refused_naming_its_sizes_in_bounded_memory(workspace, src):
    # 12 parameters x 100 choices = 1e24 points with max_total_runs 2: the CLI used to list the
    # grid until the kernel killed it (23 GB) and the server threw std::bad_alloc.
    setup(src, grid_of(12, "max_total_runs: 2\n"))
    message = ("field 'sampling.parameter_space': grid sampling over 12 parameters has 100^12 = 1e24 points, more "
               "than the limit of 2^63-1 (about 9.2e18); use random sampling or fewer choices")
    gib = 1 << 30
    # The CLI, in at most 1 GiB of address space (listing the grid dies of bad_alloc in it).
    r = subprocess.run([str(workspace.ferry), "--home", str(workspace.home), "run", "submit-hyperdrive", "-e", "hd",
                        "-c", "local", "--hyperdrive-configuration-name", "hdconfig", "-d", str(src)],
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (gib, gib)))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"hdconfig.yml:4:3: {message}" in r.stderr, r.stderr
    # The server, allowed 512 MiB more address space than it has, answers 400 and stays up.
    pid = workspace.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_AS)
    resource.prlimit(pid, resource.RLIMIT_AS, (vm_kib(pid, "VmSize") * 1024 + gib // 2, hard))
    try:
        status, body, _ = workspace.api("POST", "/sweeps", json={
            "script": "train.py", "snapshot_id": "0" * 64,
            "sweep": {"spec": grid_of(12, "max_total_runs: 2\n"), "spec_file": "x.yml"}})
        assert status == 400, body
        assert f"x.yml:4:3: {message}" in body["error"]["message"], body
        assert workspace.api("GET", "/health", auth=False)[0] == 200
        assert vm_kib(pid, "VmHWM") < 512 * 1024  # peak resident memory over the server's life
    finally:
        resource.prlimit(pid, resource.RLIMIT_AS, (soft, hard))
    assert workspace.run_count() == 0
    # A grid that may run but whose size would be max_total_runs' default is refused naming it.
    setup(src, grid_of(3))
    _, r = submit(workspace, src, check=False)
    assert r.returncode == 1
    assert ("field 'max_total_runs': grid sampling over 3 parameters has 100^3 = 1000000 points, more than a sweep "
            "may run (max_total_runs is at most 10000)") in r.stderr, r.stderr
    # A sweep file that is not one is not read.
    (src / "big.yml").write_bytes(b"#" * (300 * 1024))
    _, r = submit(workspace, src, check=False, hd=str(src / "big.yml"))
    assert r.returncode == 1
    assert "sweep file '" + str(src / "big.yml") + "': it has 307200 bytes, more than the limit of 256 KiB" in r.stderr, \
        r.stderr
    assert workspace.run_count() == 0


def test_a_grid_of_1e18_points_runs_its_first_points_in_order(workspace, src):
    setup(src, grid_of(9, "max_total_runs: 2\nmax_concurrent_runs: 1\n"))
    (src / "train.py").write_text("from ferry import Run\nRun.get_context().log('Accuracy', 0.5)\n")
    sweep_id, r = submit(workspace, src, "--wait")
    assert sweep_id and r.returncode == 0, r.stderr
    s = sweep(workspace, sweep_id)
    assert s["status"] == "Completed" and s["sweep"]["max_total_runs"] == 2, s
    points = [[t["parameters"][f"--p{k}"] for k in range(9)] for t in s["trials"]]
    assert points == [["0"] * 9, ["0"] * 8 + ["1"]], points  # the last parameter varies fastest


def test_sdk_choice_refuses_a_range_past_the_limit_before_listing_it():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from ferry.hyperdrive import choice

    assert choice(range(3)) == ("choice", [0, 1, 2])
    for values in (range(10**12), range(10**30), list(range(10001))):
        try:
            choice(values)
        except ValueError as e:
            assert "more than the limit of 10000 values of one choice" in str(e), e
        else:
            raise AssertionError(f"choice accepted {len(values) if len(values) < 10**6 else 'a huge range'}")
