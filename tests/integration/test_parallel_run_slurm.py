"""ParallelRunStep on a real Slurm cluster (issue 21): 2 nodes x 2 worker processes work one queue;
every node's workers take mini-batches, the rows come out in mini-batch order, and failures under
the threshold leave the step Completed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from slurm import SlurmCluster
from test_parallel_run import PRS, artifact, expected_rows, progress, setup
from test_pipelines import steps_of, submit


def test_two_nodes_by_two_processes_share_one_queue(make_workspace, tmp_path, src):
    reason = SlurmCluster.unavailable_reason()
    if reason:
        pytest.fail(f"a real Slurm cluster is required (scripts/setup.sh installs slurm-wlm and munge): {reason}")
    with SlurmCluster(tmp_path / "slurm", nodes=2) as cluster:
        cluster.start()
        ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
        ws.cli("compute", "attach", "slurm", "hpc", "--local", "--shared-dir", cluster.shared_dir,
               "--partition", cluster.partition)
        bad = {7: "bad"}
        yml = setup(ws, src, bad, threshold=5, delay=1.0)  # a second a batch: every node gets some
        (src / "prs.yml").write_text(PRS.format(threshold=5) + "node_count: 2\n")
        (src / "pipeline.yml").write_text(yml.read_text().replace("default_compute: local", "default_compute: hpc"))
        run_id, r = submit(ws, yml)
        step = steps_of(ws, run_id)["score"]
        assert step["status"] == "Completed", (step, r.stderr)
        assert step["compute"] == "hpc"
        p = progress(ws, step["run_id"])
        assert (p["total"], p["done"], p["failed"], p["failed_items"]) == (8, 7, 1, 5), p
        rows = artifact(ws, step["run_id"], "outputs/datasets/scores/scores.txt").splitlines()
        assert rows == expected_rows(set(range(5, 10)), bad)
        # Both nodes' drivers ran two workers each, and every worker took part.
        status, page, _ = ws.api("GET", f"/runs/{step['run_id']}/minibatches/results?from=0&limit=100")
        assert status == 200, page
        nodes = {b["worker"].split("-")[0] for b in page["batches"] if b["state"] == "done"}
        assert nodes == {"0", "1"}, page
        assert "node 0: 2 worker process(es)" in ws.log(step["run_id"])
