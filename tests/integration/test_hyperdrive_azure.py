"""HyperDrive from the SDK as Azure ML's sklearn notebook drives it (renamed to ferry), against a
real server: fixed arguments that the sweep also samples, random sampling that covers a small
discrete space, the children sorted by the primary metric, per-trial progress, cancel."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import pytest

from conftest import wait_until
from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry.core import Experiment, ScriptRunConfig, Workspace  # noqa: E402
from ferry.train.hyperdrive import (  # noqa: E402
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
)

# The notebook's training script, in spirit: an SVM's kernel and penalty as arguments, the
# accuracy logged. Here the accuracy is a known function of them, so the order is known.
TRAIN = """
    import argparse, sys
    from ferry.core import Run
    p = argparse.ArgumentParser()
    p.add_argument("--kernel", type=str, default="linear")
    p.add_argument("--penalty", type=float, default=1.0)
    p.add_argument("--data", type=str, required=True)
    a = p.parse_args()
    print("ARGV", sys.argv[1:], flush=True)
    score = {"linear": 0.5, "rbf": 0.8, "poly": 0.6, "sigmoid": 0.1}[a.kernel] + a.penalty / 100
    run = Run.get_context()
    run.log("Accuracy", score)
"""


def notebook_config(src: Path, **kw) -> HyperDriveConfig:
    write(src / "train_svm.py", TRAIN)
    # As the notebook writes it: the fixed arguments include what is sampled.
    args = ["--kernel", "linear", "--penalty", 1.0, "--data", "iris"]
    run_config = ScriptRunConfig(source_directory=str(src), script="train_svm.py", arguments=args,
                                 compute_target="local", python=sys.executable)
    sampling = RandomParameterSampling({"--kernel": choice("linear", "rbf", "poly", "sigmoid"),
                                        "--penalty": choice(0.5, 1, 1.5)})
    settings = dict(hyperparameter_sampling=sampling, primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                    max_total_runs=12, max_concurrent_runs=4)
    settings.update(kw)
    return HyperDriveConfig(run_config=run_config, **settings)


def test_sklearn_notebook_sweep_runs_with_the_sampled_values_winning(workspace, src):
    ws = Workspace(home=str(workspace.home))
    hd = notebook_config(src)
    with pytest.warns(UserWarning) as caught:
        run = Experiment(ws, "svm-hd").submit(hd)
    overlap = [w for w in caught if "also sampled by the sweep" in str(w.message)]
    assert len(overlap) == 1 and "['--kernel', '--penalty']" in str(overlap[0].message), [str(w.message) for w in caught]
    assert isinstance(run, HyperDriveRun) and run.hyperdrive_config is hd
    out = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, out
    try:
        details = run.wait_for_completion(show_output=True)
    finally:
        sys.stdout = sys_stdout
    assert details["status"] == "Completed", details
    text = out.getvalue()
    # One line per trial as it ends, with its parameters and metric; then the best.
    assert text.startswith(f"RunId: {run.id}\n") and "primary metric Accuracy (Maximize)" in text, text
    assert text.count(" Completed: --kernel ") == 12, text
    assert "[trial 12/12]" in text and f"Best trial: {run.id}_" in text, text
    children = run.get_children_sorted_by_primary_metric()
    # 12 trials over 12 combinations: each combination exactly once.
    combos = {(c["hyperparameters"]) for c in children}
    assert len(children) == 12 and len(combos) == 12, children
    # The sampled values came after the fixed ones, and argparse took them.
    for c in children:
        r = workspace.run(c["run_id"])
        assert r["arguments"][:6] == ["--kernel", "linear", "--penalty", "1.0", "--data", "iris"], r["arguments"]
        sampled = r["arguments"][6:]
        assert sampled[0] == "--kernel" and sampled[2] == "--penalty", sampled
        assert f"'--kernel', '{sampled[1]}', '--penalty', '{sampled[3]}'" in workspace.log(c["run_id"])
        assert r["params"]["kernel"] == sampled[1] and r["params"]["penalty"] == sampled[3]
    # Sorted best first (Maximize); the best is rbf with penalty 1.5.
    scores = [c["best_primary_metric"] for c in children]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(0.815), children
    assert children[0]["hyperparameters"] == '{"--kernel": "rbf", "--penalty": 1.5}', children[0]
    assert all(c["status"] == "Completed" for c in children)
    assert [c["best_primary_metric"] for c in run.get_children_sorted_by_primary_metric(top=3, reverse=True)] == \
        sorted(scores)[:3]
    best = run.get_best_run_by_primary_metric()
    assert best.id == children[0]["run_id"] and workspace.run(best.id)["params"]["kernel"] == "rbf"
    # The notebook prints the best run's arguments: the fixed ones, then the sampled winners.
    assert best.get_details()["runDefinition"]["arguments"][-4:] == ["--kernel", "rbf", "--penalty", "1.5"]
    metrics = run.get_metrics()
    assert set(metrics) == {c["run_id"] for c in children}
    assert metrics[best.id]["Accuracy"] == pytest.approx(0.815)
    assert run.get_hyperparameters()[best.id] == children[0]["hyperparameters"]


def test_children_without_the_metric_follow_or_are_discarded_and_cancel(workspace, src):
    ws = Workspace(home=str(workspace.home))
    write(src / "train_svm.py", TRAIN)
    # A script that logs nothing for one kernel: those children have no primary metric.
    write(src / "picky.py", """
        import argparse, time
        from ferry.core import Run
        p = argparse.ArgumentParser(); p.add_argument("--kernel"); p.add_argument("--sleep", type=float, default=0)
        a = p.parse_args()
        if a.kernel != "none":
            Run.get_context().log("loss", {"a": 3.0, "b": 1.0, "c": 2.0}[a.kernel])
        time.sleep(a.sleep)
    """)
    src_config = ScriptRunConfig(source_directory=str(src), script="picky.py", python=sys.executable)
    hd = HyperDriveConfig(run_config=src_config,
                          hyperparameter_sampling=RandomParameterSampling({"--kernel": choice("a", "b", "c", "none")}),
                          primary_metric_name="loss", primary_metric_goal="minimize", max_total_runs=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overlap: no warning
        run = Experiment(ws, "picky").submit(hd)
    assert run.wait_for_completion()["status"] == "Completed"
    children = run.get_children_sorted_by_primary_metric()
    assert len(children) == 4  # the space has 4 values: max_total_runs 20 is an upper bound
    assert [c["best_primary_metric"] for c in children] == [1.0, 2.0, 3.0, None]
    assert [c["best_primary_metric"] for c in run.get_children_sorted_by_primary_metric(reverse=True)] == \
        [3.0, 2.0, 1.0, None]
    assert len(run.get_children_sorted_by_primary_metric(discard_no_metric=True)) == 3
    with pytest.raises(ValueError, match="top must be 0"):
        run.get_children_sorted_by_primary_metric(top=-1)
    # Cancel: the sweep and its running trials.
    slow = HyperDriveConfig(run_config=ScriptRunConfig(source_directory=str(src), script="picky.py",
                                                       arguments=["--sleep", "60"], python=sys.executable),
                            hyperparameter_sampling=RandomParameterSampling({"--kernel": choice("a", "b")}),
                            primary_metric_name="loss", primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
                            max_total_runs=2, max_concurrent_runs=2)
    running = Experiment(ws, "picky").submit(slow)
    wait_until(lambda: any(t["status"] == "Running" for t in running._sweep()["trials"]), 60, "a running trial")
    assert running.cancel() is True
    assert running.wait_for_completion(raise_on_error=False)["status"] == "Canceled"


def test_the_cli_and_other_clients_keep_refusing_the_overlap(workspace, src):
    # The SDK appends; `ferry run submit-hyperdrive` and an API client without the SDK's
    # sampled_after_fixed refuse, as before.
    hd = notebook_config(src)
    (src / ".azureml").mkdir()
    (src / ".azureml" / "svm.runconfig").write_text(
        f"script: train_svm.py\narguments: [--kernel, linear, --data, iris]\nframework: python\n"
        f"environment:\n  python:\n    userManagedDependencies: true\n    interpreterPath: {sys.executable}\n")
    (src / ".azureml" / "hd.yml").write_text(hd.spec())
    r = workspace.cli("run", "submit-hyperdrive", "-c", "svm", "--hyperdrive-configuration-name", "hd", "-d", src,
                      check=False)
    assert r.returncode != 0
    assert "argument '--kernel' of the run configuration is also sampled by the sweep" in r.stderr, r.stderr
    from ferry import _snapshot

    ws = Workspace(home=str(workspace.home))
    snapshot_id = _snapshot.upload(ws._client, _snapshot.build(str(src)))
    body = hd.run_config._body("api", snapshot_id, None)
    for flag, code, message in ((None, 400, "argument '--kernel' of the run configuration is also sampled"),
                                ("yes", 400, "field 'sweep.sampled_after_fixed' must be true or false")):
        sweep = {k: v for k, v in hd._sweep_body().items() if k != "sampled_after_fixed"}
        if flag is not None:
            sweep["sampled_after_fixed"] = flag
        status, answer, _ = workspace.api("POST", "/sweeps", json={**body, "sweep": sweep})
        assert status == code and message in answer["error"]["message"], answer
    assert workspace.run_count() == 0
