"""The kind table (src/compute/kinds.cc) as users meet it: `GET /api/v1/compute-kinds`, the
CLI's `compute attach|create KIND` built from its rows, the SDK's configuration classes named
by them, and POST /computes refusing a kind the table does not have."""
import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import ferry.compute as sdk_compute  # noqa: E402


def _kinds(workspace):
    status, body, _ = workspace.api("GET", "/compute-kinds")
    assert status == 200, body
    return {k["name"]: k for k in body["kinds"]}


def test_every_attachable_kind_has_its_sdk_class_and_cli_command(workspace):
    kinds = _kinds(workspace)
    assert {"local", "ssh", "instance", "slurm", "cluster"} <= set(kinds)
    assert not kinds["local"]["attachable"]
    for name, k in kinds.items():
        if not k["attachable"]:
            continue
        # The SDK class the row names exists and builds a request of this kind.
        cls = getattr(sdk_compute, k["sdk_class"])
        make = getattr(cls, "attach_configuration", None) or cls.provisioning_configuration
        params = inspect.signature(make).parameters
        required = {p: "x" for p, v in params.items() if v.default is inspect.Parameter.empty}
        assert make(**required)["kind"] == name
        # `ferry compute VERB KIND --help` lists every option of the row.
        r = workspace.cli("compute", k["verb"], name, "--help")
        for o in k["options"]:
            assert o["flag"] in r.stdout, (name, o["flag"], r.stdout)
        assert ("--wait" in r.stdout) == k["provisions"], name


def test_unknown_kind_and_bad_option_values_are_named(workspace):
    status, body, _ = workspace.api("POST", "/computes", {"name": "x", "kind": "spark-ish"})
    assert status == 400
    assert body["error"]["message"] == ("field 'kind': 'spark-ish' cannot be attached; "
                                        "allowed: ssh, instance, slurm, cluster")
    r = workspace.cli("compute", "attach", "ssh", "box", "--host", "h", "--user", "u", "--port", "abc",
                      check=False)
    assert r.returncode != 0 and "--port" in r.stderr and "'abc' is not an integer" in r.stderr, r.stderr
    r = workspace.cli("compute", "create", "cluster", "c1", "--provider", "netns", "--node-size", "2", check=False)
    assert r.returncode == 1 and "--node-size '2': expected CPUS,MEMORY_MB[,GPUS]" in r.stderr, r.stderr
    r = workspace.cli("compute", "attach", "slurm", "s1", "--shared-dir", "/s", "--local", "--login", "u@h",
                      check=False)
    assert r.returncode == 1 and "exactly one of --local or --login" in r.stderr, r.stderr
    r = workspace.cli("compute", "attach", "slurm", "s1", "--shared-dir", "/s", check=False)
    assert r.returncode == 1 and "give exactly one of --local or --login" in r.stderr, r.stderr
