"""The Python SDK (python/ferry) against a real server: Workspace, Experiment, and runs bound to
a workspace (wait with live output, status, details, metrics, files, tags, cancel, children).
Runs are submitted with the CLI here; the SDK's own submission has its tests with it."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import wait_until
from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import ferry  # noqa: E402
from ferry import Experiment, FerryError, Run, Workspace  # noqa: E402
from ferry.exceptions import ConflictError, InvalidArgumentError, NotFoundError, PermissionDeniedError  # noqa: E402


def test_workspace_from_home_url_and_folder_config(workspace, src):
    ws = Workspace(home=str(workspace.home))
    assert ws.url == workspace.url
    assert Workspace(url=workspace.url, token=workspace.token).url == workspace.url
    with pytest.raises(FerryError) as e:
        Workspace(url=workspace.url, token="wrong").experiments()
    assert e.value.status == 403 and "not valid" in str(e.value)
    with pytest.raises(FerryError) as e:
        Workspace(home=str(workspace.home / "nowhere"), start_server=False)
    assert "no Ferry server is running" in str(e.value) and "nowhere" in str(e.value)
    assert isinstance(e.value, ferry.ServerUnavailableError)
    workspace.cli("folder", "attach", "-e", "sdk-exp", cwd=src)
    ws2 = Workspace.from_config(str(src))
    assert ws2.url == workspace.url and ws2.experiment_name == "sdk-exp"
    assert "sdk-exp" in ws2.experiments()
    with pytest.raises(FerryError) as e:
        Workspace.from_config(str(src / "missing"))
    assert "ferry folder attach" in str(e.value)


def test_errors_have_their_class_and_one_connection_carries_the_calls(workspace, src):
    ws = Workspace(home=str(workspace.home))
    ws.experiments()
    local = ws._client._local.conn.sock.getsockname()
    with pytest.raises(NotFoundError) as e:
        Run.get(ws, "no_such_run")
    assert e.value.status == 404 and e.value.code == "NotFound" and "no_such_run" in str(e.value)
    with pytest.raises(InvalidArgumentError) as e2:
        ws._client.call("POST", "/runconfigs/parse", {"text": "script: [", "name": "bad.runconfig"})
    assert e2.value.status == 400 and "bad.runconfig" in str(e2.value)
    ws.experiments()
    # The server kept the connection alive through answers and refusals: the same socket.
    assert ws._client._local.conn.sock.getsockname() == local
    status, body, _ = workspace.api("POST", "/users", json={"name": "rita", "role": "reader"})
    assert status == 201, body
    reader = Workspace(url=workspace.url, token=body["token"])
    assert reader.experiments() == ws.experiments()
    (src / "requirements.txt").write_text("numpy\n")
    with pytest.raises(PermissionDeniedError) as e3:
        ferry.Environment.from_pip_requirements("reader-env", str(src / "requirements.txt")).register(reader)
    assert e3.value.status == 403 and "rita" in str(e3.value), e3.value
    with pytest.raises(PermissionDeniedError):  # a token the server does not know
        Workspace(url=workspace.url, token="wrong").experiments()


def test_wait_for_completion_streams_output_and_returns_details(workspace, src, monkeypatch):
    write(src / "slow.py", """
        import time
        from ferry import Run
        run = Run.get_context()
        for i in range(4):
            print(f"epoch {i}", flush=True)
            run.log("loss", 1.0 / (i + 1), step=i)
            time.sleep(0.3)
        run.log("acc", 0.9)
        import os
        os.makedirs("outputs/sub", exist_ok=True)
        open("outputs/model.bin", "wb").write(b"weights")
        open("outputs/sub/notes.txt", "w").write("notes")
    """)
    run_id, _ = workspace.submit(src, "slow.py")
    ws = Workspace(home=str(workspace.home))
    run = Run.get(ws, run_id)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    details = run.wait_for_completion(show_output=True)
    monkeypatch.undo()
    text = out.getvalue()
    assert [l for l in text.splitlines() if l.startswith("epoch")] == [f"epoch {i}" for i in range(4)], text
    assert f"RunId: {run_id}" in text and "Status: Completed" in text
    assert details["status"] == "Completed" and details["runId"] == run_id and details["exitCode"] == 0
    assert details["startTimeUtc"].endswith("Z") and details["endTimeUtc"] >= details["startTimeUtc"]
    assert [h["status"] for h in details["statusHistory"]][-1] == "Completed"
    assert run.get_status() == "Completed"
    m = run.get_metrics()
    assert m["acc"] == 0.9 and m["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert run.get_metrics("acc") == {"acc": 0.9}
    # A run that has ended takes no more data, from a notebook either (issue 17, item 14).
    for log in (lambda: run.log("eval_acc", 0.88), lambda: run.log_list("eval_curve", [0.1, 0.2]),
                lambda: run.log_row("eval", f1=0.7)):
        with pytest.raises(FerryError) as e:
            log()
        assert e.value.status == 409 and "has ended (Completed)" in str(e.value), e.value
        assert isinstance(e.value, ConflictError)
    assert "eval_acc" not in run.get_metrics()
    names = run.get_file_names()
    assert {"outputs/model.bin", "outputs/sub/notes.txt", "logs/std_log.txt"} <= set(names)


def test_files_download_whole_and_by_prefix(workspace, src, tmp_path):
    write(src / "out.py", """
        import os
        os.makedirs("outputs/sub", exist_ok=True)
        open("outputs/model.bin", "wb").write(b"weights")
        open("outputs/sub/notes.txt", "w").write("notes")
    """)
    run_id, _ = workspace.submit(src, "out.py", wait=True)
    run = Run.get(Workspace(home=str(workspace.home)), run_id)
    dest = run.download_file("outputs/model.bin", str(tmp_path / "m.bin"))
    assert Path(dest).read_bytes() == b"weights"
    got = run.download_files(prefix="outputs", output_directory=str(tmp_path / "all"))
    assert sorted(Path(p).relative_to(tmp_path / "all").as_posix() for p in got) == ["outputs/model.bin",
                                                                                    "outputs/sub/notes.txt"]
    flat = run.download_files(prefix="outputs/sub", output_directory=str(tmp_path / "flat"), append_prefix=False)
    assert [Path(p).relative_to(tmp_path / "flat").as_posix() for p in flat] == ["notes.txt"]
    with pytest.raises(FerryError) as e:
        run.download_file("outputs/nope.bin")
    assert "no file 'outputs/nope.bin'" in str(e.value) and e.value.status == 404


def test_a_failing_run_raises_with_its_error_unless_asked_not_to(workspace, src):
    write(src / "bad.py", """
        print("about to fail", flush=True)
        raise SystemExit(3)
    """)
    run_id, _ = workspace.submit(src, "bad.py")
    run = Run.get(Workspace(home=str(workspace.home)), run_id)
    with pytest.raises(FerryError) as e:
        run.wait_for_completion()
    assert run_id in str(e.value) and "code 3" in str(e.value) and "about to fail" in str(e.value)
    d = run.wait_for_completion(raise_on_error=False)
    assert d["status"] == "Failed" and d["exitCode"] == 3 and "about to fail" in d["error"]["message"]


def test_tags_cancel_and_experiment_runs(workspace, src):
    write(src / "sleepy.py", """
        import time
        print("started", flush=True)
        time.sleep(60)
    """)
    run_id, _ = workspace.submit(src, "sleepy.py", extra=("-e", "sdk-runs"))
    ws = Workspace(home=str(workspace.home))
    run = Run(Experiment(ws, "sdk-runs"), run_id)
    wait_until(lambda: run.get_status() == "Running", 30, "the run to start")
    run.tag("stage", "smoke")
    run.set_tags({"owner": "sdk", "n": 3})
    assert run.get_tags() == {"stage": "smoke", "owner": "sdk", "n": "3"}
    run.cancel()
    d = run.wait_for_completion(raise_on_error=False)
    assert d["status"] == "Canceled"
    runs = list(Experiment(ws, "sdk-runs").get_runs())
    assert [r.id for r in runs] == [run_id]
    assert [r.id for r in Experiment(ws, "sdk-runs").get_runs(tags={"owner": "sdk"})] == [run_id]
    assert list(Experiment(ws, "sdk-runs").get_runs(tags={"owner": "else"})) == []
    with pytest.raises(FerryError) as e:
        Run.get(ws, "no_such_run")
    assert e.value.status == 404 and "no_such_run" in str(e.value)
    # An in-script run is not bound: the remote calls say how to get a bound one.
    with pytest.raises(RuntimeError) as e2:
        Run(None, "x").get_status()
    assert "Run.get(workspace, run_id)" in str(e2.value)


def test_a_sweeps_children(workspace, src):
    write(src / "trial.py", """
        import argparse
        from ferry import Run
        p = argparse.ArgumentParser(); p.add_argument("--x", type=float)
        Run.get_context().log("loss", p.parse_args().x)
    """)
    (src / ".azureml").mkdir()
    (src / ".azureml" / "local.runconfig").write_text(
        f"script: trial.py\ntarget: local\nenvironment:\n  python:\n    userManagedDependencies: true\n"
        f"    interpreterPath: {sys.executable}\n")
    (src / ".azureml" / "grid.yml").write_text(
        "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: [1, 2, 3]\n"
        "primary_metric_name: loss\nprimary_metric_goal: Minimize\nmax_total_runs: 3\nmax_concurrent_runs: 3\n")
    r = workspace.cli("run", "submit-hyperdrive", "-c", "local", "--hyperdrive-configuration-name", "grid", cwd=src)
    sweep_id = r.stdout.strip().splitlines()[-1]
    run = Run.get(Workspace(home=str(workspace.home)), sweep_id)
    assert run.wait_for_completion()["status"] == "Completed"
    children = run.get_children()
    assert sorted(c.id for c in children) == [f"{sweep_id}_{k}" for k in range(3)]
    assert sorted(c.get_metrics()["loss"] for c in children) == [1, 2, 3]


def test_import_stays_cheap():
    code = "import time; t=time.perf_counter(); import ferry; print(time.perf_counter()-t)"
    import subprocess

    best = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    env={**os.environ, "PYTHONPATH": str(Path(ferry.__file__).parents[1])},
                                    check=True).stdout) for _ in range(3))
    # Not a timing assertion: what is imported is. The SDK's modules load on first use.
    mods = subprocess.run([sys.executable, "-c", "import ferry, sys; print(sorted(m for m in sys.modules if "
                           "m.startswith(('urllib', 'json', 'ferry.'))))"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(ferry.__file__).parents[1])}, check=True).stdout
    assert "ferry.workspace" not in mods and "urllib" not in mods and "'json'" not in mods, (mods, best)


def test_environments_register_get_and_list(workspace, tmp_path):
    from ferry import Environment

    ws = Workspace(home=str(workspace.home))
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.24\n")
    env = Environment.from_pip_requirements("sdk-env", str(req)).register(ws)
    assert env.version == 1 and env.spec_type == "pip"
    assert Environment.from_pip_requirements("sdk-env", str(req)).register(ws).version == 1  # same spec: no new version
    req.write_text("numpy>=1.24\nscipy\n")
    assert Environment.from_pip_requirements("sdk-env", str(req)).register(ws).version == 2
    conda = tmp_path / "env.yml"
    conda.write_text("name: x\ndependencies:\n  - python=3.11\n")
    Environment.from_conda_specification("sdk-conda", str(conda)).register(ws)
    got = Environment.get(ws, "sdk-env", version=1)
    assert got.content == "numpy>=1.24\n" and got.version == 1
    assert Environment.get(ws, "sdk-env").content.endswith("scipy\n")
    assert Environment.versions(ws, "sdk-env") == [1, 2]
    listed = Environment.list(ws)
    assert listed["sdk-env"].version == 2 and listed["sdk-conda"].spec_type == "conda"
    with pytest.raises(FerryError) as e:
        Environment.get(ws, "sdk-env", version=7)
    assert e.value.status == 404 and "sdk-env" in str(e.value)
    with pytest.raises(ValueError) as e2:
        Environment.from_pip_requirements("x", str(tmp_path / "missing.txt"))
    assert "missing.txt" in str(e2.value)


def test_compute_targets_list_get_missing_and_a_failed_attach(workspace, tmp_path):
    from ferry import ComputeTarget, ComputeTargetException, RemoteCompute

    ws = Workspace(home=str(workspace.home))
    names = [t.name for t in ComputeTarget.list(ws)]
    assert "local" in names
    local = ComputeTarget(workspace=ws, name="local")
    assert local.type == "local" and local.provisioning_state == "Succeeded" and local.provisioning_errors is None
    assert local.get_status()["state"] == "ready"
    local.wait_for_completion()
    with pytest.raises(ComputeTargetException) as e:
        ComputeTarget(workspace=ws, name="gpu-box")
    assert "'gpu-box' does not exist" in str(e.value)
    # Attaching probes the host first: a port nobody listens on is refused with the reason.
    key = tmp_path / "id_test"
    key.write_text("not a key\n")
    key.chmod(0o600)
    cfg = RemoteCompute.attach_configuration(address="127.0.0.1", ssh_port=1, username="nobody", private_key_file=str(key))
    with pytest.raises(ComputeTargetException) as e:
        ComputeTarget.attach(ws, "nowhere", cfg)
    assert "'nowhere'" in str(e.value) and "cannot reach" in str(e.value) and e.value.status in (400, 409, 412), str(e.value)
    assert "nowhere" not in [t.name for t in ComputeTarget.list(ws)]  # nothing half-attached
    with pytest.raises(TypeError):
        ComputeTarget.attach(ws, "bad", {"kind": "ssh"})


def tricky_tree(src: Path) -> None:
    """Ignore files at several levels, negations, dir-only and ** rules, exec bits, symlinks."""
    write(src / "train.py", """
        import argparse
        from ferry import Run
        p = argparse.ArgumentParser(); p.add_argument("--lr", type=float); p.add_argument("--epochs", type=int)
        a = p.parse_args()
        run = Run.get_context()
        for e in range(a.epochs):
            print(f"epoch {e}", flush=True)
            run.log("loss", a.lr / (e + 1), step=e)
    """)
    (src / ".gitignore").write_text("*.tmp\n!keep.tmp\nbuild/\n**/cache/**\n/rootonly.txt\n")
    for p in ["a.tmp", "keep.tmp", "build/x.o", "pkg/cache/c.bin", "pkg/mod.py", "rootonly.txt", "pkg/rootonly.txt",
              "data/[weird] name.txt", "data/sub/deep.txt"]:
        (src / p).parent.mkdir(parents=True, exist_ok=True)
        (src / p).write_text(p)
    (src / "pkg" / ".amlignore").write_text("*.py\n!mod.py\nignored_here.txt\n")
    (src / "pkg" / "ignored_here.txt").write_text("no")
    (src / "pkg" / "other.py").write_text("no")
    (src / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "tool.sh", 0o755)
    (src / "alias.txt").symlink_to("data/sub/deep.txt")
    (src / "datadir").symlink_to("data")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("[core]\n")


def test_sdk_snapshot_is_the_clis_snapshot(workspace, src):
    from ferry import _snapshot

    tricky_tree(src)
    run_id, r = workspace.submit(src, "train.py", "--lr", "0.1", "--epochs", "1", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    snap = _snapshot.build(str(src))
    assert snap.id == workspace.run(run_id)["snapshot_id"], snap.manifest().decode()
    assert "pkg/other.py" not in snap.files and "pkg/mod.py" in snap.files and "keep.tmp" in snap.files
    assert "pkg/rootonly.txt" in snap.files and "rootonly.txt" not in snap.files


def test_experiment_submit_runs_a_script_config_end_to_end(workspace, src):
    from ferry import ScriptRunConfig

    tricky_tree(src)
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "sdk-submit")
    cfg = ScriptRunConfig(source_directory=str(src), script="./train.py", arguments=["--lr", 0.5, "--epochs", 3],
                          python=sys.executable, compute_target="local")
    run = exp.submit(cfg, tags={"via": "sdk"})
    details = run.wait_for_completion()
    assert details["status"] == "Completed", details
    assert run.get_metrics()["loss"] == pytest.approx([0.5, 0.25, 0.5 / 3])
    assert run.get_tags()["via"] == "sdk"
    info = workspace.run(run.id)
    assert info["arguments"] == ["--lr", "0.5", "--epochs", "3"] and info["experiment"] == "sdk-submit"
    assert any("datadir" in w for w in run.snapshot_warnings)  # a directory symlink is not followed
    # A second submission of the same tree is the same snapshot.
    again = exp.submit(cfg)
    assert workspace.run(again.id)["snapshot_id"] == info["snapshot_id"]
    again.wait_for_completion()
    # Bad input: a script not in the snapshot, an unknown target.
    with pytest.raises(ValueError) as e:
        exp.submit(ScriptRunConfig(source_directory=str(src), script="pkg/other.py"))
    assert "pkg/other.py" in str(e.value) and "ignore file" in str(e.value)
    with pytest.raises(FerryError) as e2:
        exp.submit(ScriptRunConfig(source_directory=str(src), script="train.py", compute_target="gpu-box"))
    assert "gpu-box" in str(e2.value)


def test_a_notebook_style_script(workspace, src, tmp_path):
    """What a notebook does: the local workspace, an experiment, a submission, its metrics."""
    write(src / "fit.py", """
        from ferry import Run
        for i in range(3):
            Run.get_context().log("acc", 0.5 + 0.1 * i, step=i)
        print("fitted")
    """)
    notebook = tmp_path / "notebook.py"
    notebook.write_text(textwrap.dedent(f"""
        import sys
        from ferry import Workspace, Experiment, ScriptRunConfig
        ws = Workspace()
        exp = Experiment(ws, "notebook")
        run = exp.submit(ScriptRunConfig(source_directory={str(src)!r}, script="fit.py", python=sys.executable))
        run.wait_for_completion(show_output=True)
        print("METRICS", run.get_metrics())
    """))
    import subprocess

    env = {**os.environ, "FERRY_HOME": str(workspace.home),
           "PYTHONPATH": str(Path(ferry.__file__).parents[1])}
    r = subprocess.run([sys.executable, str(notebook)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fitted" in r.stdout and "Status: Completed" in r.stdout
    assert "METRICS {'acc': [0.5, 0.6, 0.7]}" in r.stdout.replace("0.6000000000000001", "0.6"), r.stdout


def test_hyperdrive_config_submits_a_sweep_and_finds_the_best(workspace, src):
    from ferry import (BanditPolicy, GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal,
                       RandomParameterSampling, ScriptRunConfig)
    from ferry.hyperdrive import choice, uniform

    write(src / "trial.py", """
        import argparse
        from ferry import Run
        p = argparse.ArgumentParser(); p.add_argument("--x", type=float); p.add_argument("--tag", default="")
        a = p.parse_args()
        Run.get_context().log("loss", (a.x - 2) ** 2)
    """)
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "sdk-sweep")
    base = ScriptRunConfig(source_directory=str(src), script="trial.py", arguments=["--tag", "fixed"],
                           python=sys.executable)
    hd = HyperDriveConfig(run_config=base, hyperparameter_sampling=GridParameterSampling({"--x": choice(1, 2, 4)}),
                          primary_metric_name="loss", primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
                          max_concurrent_runs=3)
    sweep = exp.submit(hd)
    assert sweep.wait_for_completion()["status"] == "Completed"
    best = sweep.get_best_run_by_primary_metric()
    assert best is not None and best.get_metrics()["loss"] == 0
    assert workspace.run(best.id)["arguments"] == ["--tag", "fixed", "--x", "2"]
    assert sorted(c.get_metrics()["loss"] for c in sweep.get_children()) == [0, 1, 4]
    # Random sampling with a seed, a policy; the file the server gets is an hdconfig in JSON.
    rnd = HyperDriveConfig(run_config=base, hyperparameter_sampling=RandomParameterSampling({"--x": uniform(0, 4)}, seed=3),
                           policy=BanditPolicy(slack_factor=0.2), primary_metric_name="loss",
                           primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=3, max_concurrent_runs=3)
    assert '"seed": 3' in rnd.spec() and '"BanditPolicy"' in rnd.spec()
    s2 = exp.submit(rnd)
    assert s2.wait_for_completion()["status"] == "Completed" and len(s2.get_children()) == 3
    # A spec the server refuses names the field.
    bad = HyperDriveConfig(run_config=base, hyperparameter_sampling=GridParameterSampling({"--x": uniform(0, 1)}),
                           primary_metric_name="loss", primary_metric_goal=PrimaryMetricGoal.MINIMIZE)
    with pytest.raises(FerryError) as e:
        exp.submit(bad)
    assert "grid" in str(e.value) and "choice" in str(e.value), str(e.value)


def test_run_configuration_load_change_save_and_submit(workspace, src):
    from ferry import RunConfiguration, ScriptRunConfig

    write(src / "show.py", """
        import os, sys
        print("args", sys.argv[1:], "FOO", os.environ.get("FOO"), flush=True)
    """)
    (src / ".azureml").mkdir()
    (src / ".azureml" / "local.runconfig").write_text(textwrap.dedent(f"""\
        # a comment, as Azure ML writes them
        script: show.py
        arguments: [--a, "1"]
        target: local
        maxRunDurationSeconds: 60
        environment:
          environmentVariables:
            FOO: bar
          python:
            userManagedDependencies: true
            interpreterPath: {sys.executable}
        """))
    ws = Workspace(home=str(workspace.home))
    rc = RunConfiguration.load(str(src), "local", workspace=ws)
    assert rc.script == "show.py" and rc.arguments == ["--a", "1"] and rc.max_run_duration_seconds == 60
    assert rc.environment.environment_variables == {"FOO": "bar"}
    assert rc.environment.python.user_managed_dependencies is True and rc.path.endswith("local.runconfig")
    rc.arguments = ["--a", "2"]
    rc.environment.environment_variables["FOO"] = "changed"
    saved = rc.save(str(src), name="copy")
    again = RunConfiguration.load(saved, workspace=ws)
    assert again.to_dict() == rc.to_dict()
    run = Experiment(ws, "sdk-rc").submit(ScriptRunConfig(source_directory=str(src), run_config=again))
    assert run.wait_for_completion()["status"] == "Completed"
    assert "args ['--a', '2'] FOO changed" in workspace.log(run.id)
    # The saved file is a run configuration the CLI takes as it is.
    r = workspace.cli("run", "submit-script", "-c", "copy", "-d", str(src), "--wait", cwd=src)
    assert "args ['--a', '2'] FOO changed" in r.stdout, r.stdout + r.stderr
    # A wrong value is refused with the file, line, column and field.
    (src / ".azureml" / "bad.runconfig").write_text("script: show.py\nnodeCount: two\n")
    with pytest.raises(FerryError) as e:
        RunConfiguration.load(str(src), "bad", workspace=ws)
    assert "bad.runconfig:2:" in str(e.value) and "nodeCount" in str(e.value), str(e.value)


def test_workspace_starts_the_local_server_like_the_cli(tmp_path, ferry_bin, monkeypatch):
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("FERRY_BIN", str(ferry_bin))
    ws = Workspace(home=str(home))
    try:
        assert (home / "server.json").exists() and (home / "token").exists()
        assert isinstance(ws.experiments(), list)  # an authenticated call to the started server
        again = Workspace(home=str(home))  # the running one is reused
        assert again.url == ws.url
    finally:
        import json as _json
        import signal as _signal

        pid = _json.loads((home / "server.json").read_text())["pid"]
        os.kill(pid, _signal.SIGTERM)
        wait_until(lambda: not (home / "server.json").exists(), 30, "the server to stop")
