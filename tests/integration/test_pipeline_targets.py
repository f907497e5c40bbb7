"""One pipeline over three kinds of target (issue 21): prep on the local target, train on an SSH host
(a real sshd in a network namespace, tests/support/sshd.py) and evaluate on a Slurm cluster (real
slurmctld/slurmd, tests/support/slurm.py). The data each step writes reaches the next one on
another machine by content, and a second submission reuses all three without touching a target."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from conftest import wait_until
from slurm import SlurmCluster
from sshd import SshLab
from test_pipelines import PIPELINE, RUNCONFIG, children, metric, pipeline_run, setup_pipeline, steps_of, submit


def test_one_pipeline_runs_on_local_an_ssh_host_and_slurm(make_workspace, tmp_path, src):
    for reason in (SshLab.unavailable_reason(), SlurmCluster.unavailable_reason()):
        if reason:
            pytest.fail(f"real sshd hosts and a real Slurm cluster are required (scripts/setup.sh): {reason}")
    with SshLab(tmp_path / "ssh", hosts=1) as lab, SlurmCluster(tmp_path / "slurm", nodes=2) as cluster:
        cluster.start()
        ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
        host = lab.hosts[0]
        ws.cli("compute", "attach", "ssh", "box", "--host", host.ip, "--port", host.port, "--user", host.user,
               "--key", lab.client_key, timeout=120)
        wait_until(lambda: ws.cli_json("compute", "show", "box")["state"] == "ready", 90, "target box to be ready")
        ws.cli("compute", "attach", "slurm", "hpc", "--local", "--shared-dir", cluster.shared_dir,
               "--partition", cluster.partition)
        spread = PIPELINE.replace(
            "        train:\n", "        train:\n            compute: box\n").replace(
            "        evaluate:\n", "        evaluate:\n            compute: hpc\n")
        # The SSH host runs as another user, with its own python3 (Ferry's package comes with
        # the agent); the Slurm nodes share this machine's files, interpreter included.
        spread = spread.replace("            compute: box\n            script_name: train.py\n"
                                "            runconfig: local.runconfig\n",
                                "            compute: box\n            script_name: train.py\n"
                                "            runconfig: remote.runconfig\n")
        assert "remote.runconfig" in spread
        (src / "remote.runconfig").write_text(RUNCONFIG.format(python="python3"))
        yml = setup_pipeline(ws, src, pipeline=spread)

        run_id, r = submit(ws, yml, "-p", "scale=5")
        steps = steps_of(ws, run_id)
        assert {n: s["compute"] for n, s in steps.items()} == {"prep": "local", "train": "box", "evaluate": "hpc"}
        kids = {k["name"]: k for k in children(ws, run_id)}
        assert {n: k["target"] for n, k in kids.items()} == {"prep": "local", "train": "box", "evaluate": "hpc"}
        # (1 + 2 + 3) * 5 on the SSH host from what prep wrote locally, checked on a Slurm node.
        assert metric(ws, steps["train"]["run_id"], "total") == 30
        assert metric(ws, steps["evaluate"]["run_id"], "evaluated") == 30
        assert steps["evaluate"]["inputs_content"]["model"]["content"] == \
            steps["train"]["outputs_content"][0]["manifest"]

        again, _ = submit(ws, yml, "-p", "scale=5")
        assert [s["status"] for s in steps_of(ws, again).values()] == ["Reused"] * 3
        assert children(ws, again) == []
        assert pipeline_run(ws, again)["run"]["status"] == "Completed"
