"""Azure ML SDK v1 and Azure CLI v1 code for workspaces and compute, against a real server:
Azure's config.json mapped to a workspace home, compute lookups that raise
ComputeTargetException, the workspace's node sizes and default node provider, a cluster made from
a size name (provisioning_configuration(vm_size=) + create + wait + a run + update + delete) and
a compute instance, and `ferry computetarget`. Clusters use the netns provider of
test_clusters.py (root, slurm-wlm, munge, iproute2: scripts/setup.sh)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from test_clusters import WHERE, _force_cleanup, _missing, _netns, cluster_conf  # noqa: E402
from test_runconfig import write  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import ferry  # noqa: E402
from ferry.core import Experiment, ScriptRunConfig, Workspace  # noqa: E402
from ferry.core.compute import AmlCompute, ComputeInstance, ComputeTarget, RemoteCompute  # noqa: E402
from ferry.exceptions import ComputeTargetException, PermissionDeniedError  # noqa: E402

AZURE = {"subscription_id": "5f1e-sub", "resource_group": "ml-rg", "workspace_name": "team-ws"}


@pytest.fixture
def cws(make_workspace):
    """A workspace whose managed clusters are torn down after the test, whatever happened."""
    why = _missing()
    if why:
        pytest.fail(why)
    w = make_workspace()
    yield w
    try:
        for t in w.cli_json("compute", "list")["computes"]:
            if t["kind"] == "cluster":
                w.cli("compute", "delete", t["name"], "--force", "--yes", check=False)
    finally:
        _force_cleanup(w.home)


def test_azure_config_json_is_mapped_to_a_workspace_home(workspace, tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    write(project / ".azureml" / "config.json", json.dumps(AZURE))
    (project / "notebooks").mkdir()
    mapping = tmp_path / "workspaces.json"
    mapping.write_text(json.dumps({"team-ws": {"home": str(workspace.home)}}))
    monkeypatch.setenv("FERRY_WORKSPACES", str(mapping))
    monkeypatch.chdir(project / "notebooks")
    ws = Workspace.from_config()
    assert ws.url == workspace.url and ws.home == str(workspace.home)
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == ("team-ws", "5f1e-sub", "ml-rg", "local")
    status, body, _ = workspace.api("POST", "/experiments", json={"name": "azure-exp"})
    assert status in (200, 201), body
    targets = ws.compute_targets
    assert isinstance(targets["local"], ComputeTarget) and targets["local"].type == "local"
    assert isinstance(ws.environments, dict) and isinstance(ws.models, dict)
    exps = ws.experiments
    assert isinstance(exps, dict) and "azure-exp" in exps
    assert ws.experiments() == list(exps)  # Azure's dict; called, Ferry's list of names
    assert all(isinstance(e, ferry.Experiment) and e.name == n for n, e in exps.items())
    assert ws.get_details()["name"] == "team-ws" and ws.get_details()["discoveryUrl"] == workspace.url
    # Positional, as notebooks write it; Workspace.get; write_config then from_config elsewhere.
    assert Workspace("5f1e-sub", "ml-rg", "team-ws").url == workspace.url
    assert Workspace.get("team-ws", subscription_id="5f1e-sub", resource_group="ml-rg").url == workspace.url
    other = tmp_path / "elsewhere"
    other.mkdir()
    ws.write_config(path=str(other))
    monkeypatch.setenv("FERRY_WORKSPACES", json.dumps({}))
    again = Workspace.from_config(str(other))  # no mapping now: the home written beside the name
    assert again.url == workspace.url and again.name == "team-ws"
    # An unmapped name with nothing beside it: the local workspace ($FERRY_HOME), said on one line.
    monkeypatch.setenv("FERRY_HOME", str(workspace.home))
    capsys.readouterr()
    local = Workspace("5f1e-sub", "ml-rg", "not-mapped-ws")
    err = capsys.readouterr().err
    assert local.url == workspace.url and err.count("\n") == 1 and "'not-mapped-ws' is not mapped" in err, err


def test_lookups_of_missing_targets_raise_compute_target_exception(workspace):
    ws = Workspace(home=str(workspace.home))
    for lookup in (lambda: ComputeTarget(workspace=ws, name="cpu-cluster"), lambda: AmlCompute(ws, "cpu-cluster"),
                   lambda: RemoteCompute(ws, "cpu-cluster"), lambda: ComputeInstance(ws, "cpu-cluster")):
        try:  # the notebook pattern: look it up, create it on ComputeTargetException
            lookup()
            raise AssertionError("a missing target was found")
        except ComputeTargetException as e:
            assert "'cpu-cluster' does not exist" in str(e) and e.status == 404
    assert AmlCompute(ws, "local").type == "local"  # as Azure: the class of what the target is
    with pytest.raises(ComputeTargetException, match="resource ids do not exist"):
        ComputeTarget(workspace=ws, name="x", resource_id="/subscriptions/s/resourceGroups/g")



def _wait_until_gone(ws, name: str) -> None:
    """Until the server has deleted cluster `name` (it does so once its run has ended)."""
    deadline = time.monotonic() + 120
    while name in [t["name"] for t in ws.cli_json("compute", "list")["computes"]]:
        assert time.monotonic() < deadline, f"cluster {name} was not deleted after its run ended"
        time.sleep(0.5)


def test_run_based_amlcompute_makes_a_cluster_for_the_run_and_deletes_it_after(cws, src):
    # Azure's run-based compute: target 'amlcompute' and the run configuration's amlcompute section.
    ws = Workspace(home=str(cws.home))
    write(src / "where.py", WHERE)
    exp = Experiment(ws, "run-based")
    with pytest.raises(ferry.FerryError, match="needs its node size: set amlcompute.vmSize"):
        exp.submit(ScriptRunConfig(source_directory=str(src), script="where.py", compute_target="amlcompute"))
    assert [t.name for t in ComputeTarget.list(ws)] == ["local"]
    cws.cli("compute", "sizes", "provider", "netns")
    src_config = ScriptRunConfig(source_directory=str(src), script="where.py", compute_target="amlcompute")
    src_config.run_config.amlcompute.vm_size = "STANDARD_D1_V2"
    run = exp.submit(src_config)
    # The cluster is named after the run and holds it; its node runs the script.
    shown = cws.run(run.id)
    assert shown["target"] == run.id, shown
    assert shown["amlcompute"]["vm_size"] == "STANDARD_D1_V2", shown
    details = cws.cli_json("compute", "show", run.id)["details"]
    assert details["node_size"] == {"cpus": 1, "memory_mb": 3584, "gpus": 0}, details
    bridge = cluster_conf(cws, run.id)["bridge"]
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", cws.run(run.id)
    # A node of it: a long cluster name gives node names of its start and a hash.
    assert re.search(r"^on run-based-\d+-[0-9a-f]{8}-1$", cws.log(run.id), re.M), cws.log(run.id)
    _wait_until_gone(cws, run.id)
    assert not _netns(bridge) and not (cws.home / "clusters" / run.id).exists()

    # A run configuration file (the CLI): a named cluster kept after the run (retainCluster).
    write(src / "pool.runconfig", """
        script: where.py
        target: amlcompute
        amlcompute:
          vmSize: standard_d1_v2
          vmPriority: dedicated
          retainCluster: true
          name: kept-pool
          clusterMaxNodeCount: 2
        environment:
          python:
            userManagedDependencies: true
            interpreterPath: python3
        """)
    out = cws.cli("run", "submit-script", "-d", src, "-c", src / "pool.runconfig", "--wait", timeout=300).stdout
    kept = cws.cli_json("compute", "show", "kept-pool")
    assert kept["kind"] == "cluster" and kept["details"]["max_nodes"] == 2, kept
    runs = cws.cli_json("run", "list")["runs"]
    assert runs[0]["target"] == "kept-pool" and runs[0]["status"] == "Completed", (runs[0], out)
    # Another run names it as Azure users did: the same cluster, used as it is.
    r2 = exp.submit(ScriptRunConfig(source_directory=str(src), script="where.py", compute_target="kept-pool"))
    assert r2.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert "kept-pool" in [t.name for t in ComputeTarget.list(ws)]


def test_a_run_based_cluster_is_deleted_after_its_run_across_a_server_restart(cws, src):
    # The clusters to delete are kept with the cluster's stored configuration: a restart between
    # the submit and the run's end still deletes it; a canceled run's cluster goes too.
    cws.cli("compute", "sizes", "provider", "netns")
    write(src / "where.py", WHERE)
    ws = Workspace(home=str(cws.home))
    cfg = ScriptRunConfig(source_directory=str(src), script="where.py", arguments=["4"],
                          compute_target="amlcompute")  # it runs 4 s: the restart falls inside
    cfg.run_config.amlcompute.vm_size = "STANDARD_D1_V2"
    cfg.run_config.amlcompute._name = "per-run"
    run = Experiment(ws, "restart").submit(cfg)
    assert cws.run(run.id)["target"] == "per-run"
    cws.wait_status(run.id, "Running", timeout=120)
    port = int(cws.url.rsplit(":", 1)[1])
    cws.stop_server()
    cws.start_server(port=port)  # the same address: the SDK's workspace object keeps its URL
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", cws.run(run.id)
    _wait_until_gone(cws, "per-run")

    cfg.run_config.amlcompute._name = "canceled-pool"
    doomed = Experiment(ws, "restart").submit(cfg)
    doomed.cancel()
    _wait_until_gone(cws, "canceled-pool")
    assert cws.run(doomed.id)["status"] == "Canceled"


def test_low_priority_on_a_target_without_low_priority_nodes_is_refused(workspace, src):
    write(src / "where.py", WHERE)
    write(src / "low.runconfig", "script: where.py\ntarget: local\npriority: low\n"
                                 "environment: {python: {userManagedDependencies: true, interpreterPath: python3}}\n")
    r = workspace.cli("run", "submit-script", "-d", src, "-c", src / "low.runconfig", check=False)
    assert r.returncode != 0
    assert "priority 'low': compute target 'local' has no low-priority nodes to run it on" in r.stderr, r.stderr
    assert workspace.cli_json("run", "list")["runs"] == []  # nothing was stored


def test_node_sizes_catalog_provider_and_refusals(workspace):
    ws = Workspace(home=str(workspace.home))
    sizes = {s["name"]: s for s in AmlCompute.supported_vmsizes(ws)}
    assert sizes["STANDARD_D2_V2"] == {"name": "STANDARD_D2_V2", "vCPUs": 2, "gpus": 0, "memoryGB": 7.0,
                                       "maxResourceVolumeMB": 0, "provider": ""}
    assert (sizes["STANDARD_NC6"]["vCPUs"], sizes["STANDARD_NC6"]["gpus"]) == (6, 1)
    assert {"STANDARD_DS3_V2", "STANDARD_D13_V2", "STANDARD_NC6S_V3"} <= set(sizes)
    text = workspace.cli("compute", "sizes", "list").stdout
    assert "Default provider: none" in text and "STANDARD_D13_V2" in text, text
    # No default provider yet: a size alone cannot be created, and the message says what to do.
    cfg = AmlCompute.provisioning_configuration(vm_size="standard_d2_v2", max_nodes=2)
    with pytest.raises(ComputeTargetException, match="no default node provider.*ferry compute sizes provider netns"):
        ComputeTarget.create(ws, "pool", cfg)
    r = workspace.cli("compute", "sizes", "provider", "netns")
    assert "default node provider: netns" in r.stdout
    with pytest.raises(ComputeTargetException, match="vm_size 'STANDARD_Z9' is not in the workspace's node sizes"):
        ComputeTarget.create(ws, "pool", AmlCompute.provisioning_configuration(vm_size="STANDARD_Z9"))
    with pytest.raises(ComputeTargetException, match="no low-priority nodes"):
        ComputeTarget.create(ws, "pool", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2",
                                                                               vm_priority="lowpriority"))
    with pytest.raises(ComputeTargetException, match="'STANDARD_NC6' has 1 GPU.*netns"):
        ComputeTarget.create(ws, "pool", AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6"))
    assert [t.name for t in ComputeTarget.list(ws)] == ["local"]  # nothing was half-made
    # An admin's own size, with a provider of its own; sizes are case-insensitive names.
    r = workspace.cli("compute", "sizes", "set", "gpu-small", "--cpus", "4", "--memory-mb", "16000", "--gpus", "1",
                      "--provider", "command", "--start-command", "cloud start {node}", "--stop-command",
                      "cloud stop {node}", "--low-priority")
    assert "node size gpu-small: 4 CPUs, 16000 MB, 1 GPUs, provider command (low priority)" in r.stdout, r.stdout
    listed = workspace.cli_json("compute", "sizes", "list")
    mine = [s for s in listed["sizes"] if s["name"] == "gpu-small"][0]
    assert mine["provider"] == "command" and mine["start_command"] == "cloud start {node}" and mine["low_priority"]
    assert listed["default_provider"] == {"provider": "netns"}
    workspace.cli("compute", "sizes", "delete", "GPU-SMALL")
    assert "gpu-small" not in workspace.cli("compute", "sizes", "list").stdout
    r = workspace.cli("compute", "sizes", "delete", "gpu-small", check=False)
    assert r.returncode != 0 and "not in the workspace's catalog" in r.stderr
    # Admins only: a contributor reads the catalog but changes nothing.
    status, body, _ = workspace.api("POST", "/users", json={"name": "cora", "role": "contributor"})
    assert status == 201, body
    cora = Workspace(url=workspace.url, token=body["token"])
    assert len(AmlCompute.supported_vmsizes(cora)) == len(sizes)
    status, _, _ = workspace.api("PUT", "/node-sizes/x", json={"cpus": 1, "memory_mb": 1},
                                 headers={"Authorization": "Bearer " + body["token"]}, auth=False)
    assert status == 403


def test_sdk_makes_a_cluster_from_a_size_name_runs_on_it_and_deletes_it(cws, src):
    cws.cli("compute", "sizes", "provider", "netns")
    ws = Workspace(home=str(cws.home))
    cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D1_V2", vm_priority="dedicated", min_nodes=0,
                                                max_nodes=1, idle_seconds_before_scaledown=600)
    try:
        pool = AmlCompute(ws, "azpool")
    except ComputeTargetException:
        pool = ComputeTarget.create(ws, "azpool", cfg)
    pool.wait_for_completion(show_output=True, min_node_count=0, timeout_in_minutes=5)
    assert isinstance(pool, AmlCompute) and pool.type == "AmlCompute" and pool.vm_size == "STANDARD_D1_V2"
    status = pool.get_status().serialize()
    assert status["vmSize"] == "STANDARD_D1_V2" and status["vmPriority"] == "dedicated", status
    assert status["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT600S"}
    assert status["currentNodeCount"] == 0 and status["provisioningState"] == "Succeeded", status
    details = cws.cli_json("compute", "show", "azpool")["details"]
    assert details["node_size"] == {"cpus": 1, "memory_mb": 3584, "gpus": 0} and details["provider"] == "netns"
    write(src / "where.py", WHERE)
    run = Experiment(ws, "azure-cluster").submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                                                 compute_target="azpool"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", cws.run(run.id)
    assert "on azpool-1" in cws.log(run.id)
    # Keep a node up: update, then wait for it; the node is listed as Azure lists nodes.
    pool.update(min_nodes=1, idle_seconds_before_scaledown=900)
    pool.wait_for_completion(min_node_count=1, timeout_in_minutes=5)
    nodes = pool.list_nodes()
    assert [n["nodeId"] for n in nodes] == ["azpool-1"] and nodes[0]["nodeState"] in ("idle", "running"), nodes
    status = pool.get_status().serialize()
    assert status["currentNodeCount"] == 1 and status["scaleSettings"]["minNodeCount"] == 1, status
    assert sum(status["nodeStateCounts"].values()) == 1, status
    assert ws.compute_targets["azpool"].type == "AmlCompute"
    bridge = cluster_conf(cws, "azpool")["bridge"]
    pool.delete()
    with pytest.raises(ComputeTargetException):
        AmlCompute(ws, "azpool")
    assert not _netns(bridge)


def test_cli_spellings_of_azure_cli_v1(cws, src, tmp_path):
    cws.cli("compute", "sizes", "provider", "netns")
    r = cws.cli("computetarget", "create", "amlcompute", "-n", "clipool", "--vm-size", "Standard_D1_v2",
                "--max-nodes", "1", "--min-nodes", "0", "--vm-priority", "dedicated",
                "--idle-seconds-before-scaledown", "120")
    assert "created cluster clipool: 0-1 nodes of STANDARD_D1_V2 (1,3584), netns provider" in r.stdout, r.stdout
    assert "clipool" in cws.cli("computetarget", "list").stdout
    text = cws.cli("computetarget", "show", "-n", "clipool").stdout
    assert "Nodes:       0-1 of 1 CPUs, 3584 MB; scale down after 120 s idle" in text, text
    r = cws.cli("computetarget", "create", "amlcompute", "-n", "lowpool", "--vm-size", "STANDARD_D1_V2",
                "--max-nodes", "1", "--vm-priority", "lowpriority", check=False)
    assert r.returncode != 0 and "has no low-priority nodes" in r.stderr, r.stderr
    r = cws.cli("computetarget", "create", "amlcompute", "-n", "badprio", "--vm-size", "STANDARD_D1_V2",
                "--max-nodes", "1", "--vm-priority", "spot", check=False)
    assert r.returncode != 0 and "--vm-priority 'spot' is not one of: dedicated, lowpriority" in r.stderr

    # A compute instance: one node of the size, up while it exists, only its owner submits.
    r = cws.cli("computetarget", "create", "computeinstance", "-n", "mybox", "--vm-size", "STANDARD_D1_V2", "--wait",
                timeout=400)
    assert "created cluster mybox: 1-1 nodes of STANDARD_D1_V2" in r.stdout and "ready" in r.stdout, r.stdout
    ws = Workspace(home=str(cws.home))
    box = ComputeTarget(workspace=ws, name="mybox")
    assert isinstance(box, ComputeInstance) and box.type == "ComputeInstance"
    write(src / "where.py", WHERE)
    run = Experiment(ws, "on-box").submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                                          compute_target="mybox"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", cws.run(run.id)
    status, body, _ = cws.api("POST", "/users", json={"name": "dora", "role": "contributor"})
    assert status == 201, body
    dora = Workspace(url=cws.url, token=body["token"])
    with pytest.raises(PermissionDeniedError, match="'mybox' belongs to the workspace token's holder"):
        Experiment(dora, "on-box").submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                                          compute_target="mybox"))

    # attach remote: exactly one credential; a password on the command line is warned about;
    # ssh's failure reaches the user without its carriage return.
    r = cws.cli("computetarget", "attach", "remote", "-n", "r1", "--address", "127.0.0.1", "--ssh-port", "1",
                "--username", "nobody", check=False)
    assert r.returncode != 0 and "exactly one of --password or --private-key-file" in r.stderr, r.stderr
    r = cws.cli("computetarget", "attach", "remote", "-n", "r1", "--address", "127.0.0.1", "--ssh-port", "1",
                "--username", "nobody", "--password", "hunter2", check=False)
    assert r.returncode != 0 and "shows in process lists" in r.stderr, r.stderr
    assert "cannot reach" in r.stderr and "\r" not in r.stderr, repr(r.stderr)
    key = tmp_path / "id_test"
    key.write_text("not a key\n")
    key.chmod(0o600)
    r = cws.cli("computetarget", "attach", "remote", "-n", "r2", "--address", "127.0.0.1", "--ssh-port", "1",
                "--username", "nobody", "--private-key-file", "id_test", check=False, cwd=tmp_path)
    assert r.returncode != 0 and "cannot reach" in r.stderr and "process lists" not in r.stderr, r.stderr

    # local: neither deleted nor detached, and no command sends the user to the other.
    for args in (("computetarget", "delete", "-n", "local"), ("computetarget", "detach", "-n", "local"),
                 ("compute", "delete", "local", "--yes"), ("compute", "detach", "local")):
        r = cws.cli(*args, check=False)
        assert r.returncode != 0 and "can be neither" in r.stderr, (args, r.stderr)
        assert "use 'ferry compute" not in r.stderr, (args, r.stderr)

    r = cws.cli("computetarget", "delete", "-n", "mybox")
    assert "detached mybox" in r.stdout, r.stdout
    cws.cli("computetarget", "detach", "-n", "clipool")
    assert [t["name"] for t in cws.cli_json("computetarget", "list")["computes"]] == ["local"]
