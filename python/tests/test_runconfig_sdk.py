"""RunConfiguration and ScriptRunConfig as Azure ML's notebooks use them (renamed to ferry), and
what each setting makes of the submission (the fields of POST /runs). The server's side of the
same settings: tests/integration/test_runconfig_azure.py."""

import warnings

import pytest

from ferry.core.runconfig import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    DockerConfiguration,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)
from ferry.core.script_run_config import ScriptRunConfig
from ferry.train.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    uniform,
)


def body(src):
    return src._body("exp", "0" * 64, None)


def test_run_config_is_always_there_and_is_what_is_submitted():
    src = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--a", 1], compute_target="cpu")
    assert isinstance(src.run_config, RunConfiguration)
    assert src.run_config.target == "cpu" and src.compute_target == "cpu"
    # The seed notebook's spelling: changed after construction, and that is what goes.
    src.run_config.target = "gpu-box"
    src.run_config.node_count = 2
    src.run_config.max_run_duration_seconds = 90
    src.run_config.environment_variables["SEED"] = "7"
    b = body(src)
    assert b["target"] == "gpu-box" and b["node_count"] == 2 and b["max_run_duration_seconds"] == 90
    assert b["environment_variables"] == {"SEED": "7"} and b["arguments"] == ["--a", "1"]
    # A compute target object gives its name.
    src.run_config.target = type("Target", (), {"name": "cluster-a"})()
    assert body(src)["target"] == "cluster-a"
    with pytest.raises(TypeError, match="a name or a compute target"):
        src.run_config.target = 3
    # No target at all: local.
    assert body(ScriptRunConfig(source_directory=".", script="t.py"))["target"] == "local"


def test_framework_and_communicator_ignore_case_and_other_values_are_refused():
    rc = RunConfiguration(framework="python")
    assert rc.framework == "Python"
    rc.framework = "PYTORCH"
    assert rc.framework == "PyTorch"
    rc.communicator = "nccl"
    assert rc.communicator == "Nccl"
    with pytest.raises(ValueError, match="framework 'Cntk' is not allowed; use one of: Python, PyTorch"):
        rc.framework = "Cntk"
    with pytest.raises(ValueError, match="communicator 'Mpi' is not allowed"):
        RunConfiguration(communicator="Mpi")
    rc = RunConfiguration(script="t.py", arguments=["--x", "1"], framework="PySpark")
    with pytest.raises(ValueError, match="framework 'PySpark' is not supported"):
        body(ScriptRunConfig(run_config=rc))


def test_distributed_job_configs_set_the_run_config_as_azure_does():
    mpi = ScriptRunConfig(source_directory=".", script="t.py",
                          distributed_job_config=MpiConfiguration(process_count_per_node=4, node_count=2))
    assert mpi.run_config.node_count == 2 and mpi.run_config.mpi.process_count_per_node == 4
    assert mpi.distributed_job_config is mpi.run_config.mpi
    b = body(mpi)
    assert (b["communicator"], b["process_count_per_node"], b["node_count"]) == ("OpenMpi", 4, 2)
    pt = ScriptRunConfig(source_directory=".", script="t.py",
                         distributed_job_config=PyTorchConfiguration("gloo", process_count=8, node_count=2))
    assert pt.run_config.framework == "PyTorch" and pt.run_config.pytorch.communication_backend == "gloo"
    b = body(pt)
    assert (b["communicator"], b["process_count_per_node"], b["node_count"]) == ("Gloo", 4, 2)
    tf = ScriptRunConfig(source_directory=".", script="t.py",
                         distributed_job_config=TensorflowConfiguration(worker_count=3, parameter_server_count=1))
    b = body(tf)
    assert (b["communicator"], b["worker_count"], b["parameter_server_count"], b["node_count"]) == \
        ("ParameterServer", 3, 1, 3)
    with pytest.raises(ValueError, match="communication_backend 'mpi' is not allowed; use one of: Nccl, Gloo"):
        PyTorchConfiguration("mpi")
    with pytest.raises(TypeError, match="distributed_job_config must be"):
        ScriptRunConfig(source_directory=".", script="t.py", distributed_job_config="mpi")
    # Changed afterwards through run_config: what is submitted.
    mpi.run_config.mpi.process_count_per_node = 2
    assert body(mpi)["process_count_per_node"] == 2


def test_docker_runtime_config_and_the_default_images():
    assert DEFAULT_CPU_IMAGE and DEFAULT_GPU_IMAGE and DEFAULT_CPU_IMAGE != DEFAULT_GPU_IMAGE
    src = ScriptRunConfig(source_directory=".", script="t.py",
                          docker_runtime_config=DockerConfiguration(use_docker=True, shm_size="4g"))
    assert src.run_config.docker.use_docker is True
    assert body(src)["docker"] == {"enabled": True, "base_image": DEFAULT_CPU_IMAGE, "shm_size": "4g"}
    plain = ScriptRunConfig(source_directory=".", script="t.py")
    assert "docker" not in body(plain)
    plain.run_config.docker = DockerConfiguration(use_docker=True, arguments=["--ipc=host"])
    plain.run_config.environment.docker.base_image = "registry.local/train:1"
    assert body(plain)["docker"] == {"enabled": True, "base_image": "registry.local/train:1", "arguments": ["--ipc=host"]}
    with pytest.raises(TypeError, match="docker_runtime_config must be"):
        ScriptRunConfig(source_directory=".", script="t.py", docker_runtime_config={"use_docker": True})


def test_an_environment_object_is_read_through_its_fields():
    class Python:
        user_managed_dependencies = True
        interpreter_path = "/opt/py/bin/python"

    class Env:  # the shape of ferry.Environment (Azure's fields), whatever else it has
        name = "mine"
        version = None
        python = Python()
        docker = type("D", (), {"enabled": True, "base_image": "img:1", "shm_size": "", "arguments": []})()
        environment_variables = {"A": "1"}

    src = ScriptRunConfig(source_directory=".", script="t.py", environment=Env(),
                          environment_variables={"B": "2"})
    assert src.environment is src.run_config.environment
    b = body(src)
    assert b["python"] == "/opt/py/bin/python" and "environment" not in b
    assert b["docker"]["base_image"] == "img:1" and b["environment_variables"] == {"A": "1", "B": "2"}
    Env.python.user_managed_dependencies = False
    Env.version = 3
    assert body(src)["environment"] == {"name": "mine", "version": 3}
    # An environment that knows its own fields of the run says so.
    Env._run_fields = lambda self: {"environment": {"type": "pip", "content": "numpy\n"}}
    assert body(src)["environment"] == {"type": "pip", "content": "numpy\n"}


def test_run_config_given_with_other_arguments_and_its_script_and_arguments():
    rc = RunConfiguration(script="from_rc.py", arguments=["--rc"])
    src = ScriptRunConfig(source_directory=".", run_config=rc, compute_target="t2")
    assert src.run_config is rc and src.script == "from_rc.py" and src.arguments == ["--rc"]
    assert rc.target == "t2"
    src2 = ScriptRunConfig(source_directory=".", script="own.py", arguments=["--own"], run_config=rc)
    assert body(src2)["script"] == "own.py" and body(src2)["arguments"] == ["--own"]
    with pytest.raises(ValueError, match="command=..."):
        ScriptRunConfig(source_directory=".", command=["python", "t.py"])
    with pytest.raises(TypeError, match="run_config must be a ferry.RunConfiguration"):
        ScriptRunConfig(source_directory=".", script="t.py", run_config={"target": "x"})


def test_save_and_read_back_the_run_level_sections(tmp_path):
    rc = RunConfiguration(script="t.py", framework="python")
    rc.environment_variables = {"RUN": "1"}
    rc.docker = DockerConfiguration(use_docker=True, shm_size="2g")
    rc.communicator = "gloo"
    d = rc.to_dict()
    assert d["framework"] == "Python" and d["environmentVariables"] == {"RUN": "1"}
    assert d["docker"]["useDocker"] is True and d["docker"]["shmSize"] == "2g"
    assert d["pytorch"]["communicationBackend"] == "Gloo"
    path = rc.save(str(tmp_path), name="x")
    text = open(path).read()
    assert "useDocker: true" in text and "environmentVariables:" in text


def test_amlcompute_section_goes_only_with_target_amlcompute(tmp_path):
    src = ScriptRunConfig(source_directory=".", script="train.py", compute_target="amlcompute")
    assert "amlcompute" not in body(src)  # nothing set: the server says vm_size is needed
    ac = src.run_config.amlcompute
    ac.vm_size, ac.vm_priority, ac._cluster_max_node_count = "STANDARD_D2_V2", "LowPriority", 3
    assert body(src)["amlcompute"] == {"vm_size": "STANDARD_D2_V2", "vm_priority": "lowpriority", "name": "",
                                       "cluster_max_node_count": 3, "retain_cluster": False}
    src.run_config.target = "cpu-cluster"  # as in Azure ML, ignored for another target
    assert "amlcompute" not in body(src)
    ac.vm_priority = "spot"
    src.run_config.target = "amlcompute"
    with pytest.raises(ValueError, match="amlcompute.vm_priority 'spot' is not allowed"):
        body(src)
    ac.vm_priority = None
    ac._retain_cluster, ac._name = True, "pool"
    d = src.run_config.to_dict()
    assert d["amlcompute"] == {"vmSize": "STANDARD_D2_V2", "name": "pool", "clusterMaxNodeCount": 3,
                               "retainCluster": True}
    text = open(src.run_config.save(str(tmp_path / "a.runconfig"))).read()
    assert "amlcompute:\n  vmSize: \"STANDARD_D2_V2\"\n" in text, text


def sweep(run_config=None, estimator=None, space=None):
    return HyperDriveConfig(run_config=run_config, estimator=estimator,
                            hyperparameter_sampling=RandomParameterSampling(
                                space or {"--kernel": choice("linear", "rbf"), "--penalty": choice(0.5, 1)}),
                            primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                            max_total_runs=4)


def test_overlapping_fixed_arguments_stay_with_one_warning_and_the_sampled_values_come_after():
    src = ScriptRunConfig(source_directory=".", script="train.py",
                          arguments=["--kernel", "linear", "--penalty=1.0", "--data", "d"])
    hd = sweep(src)
    with pytest.warns(UserWarning) as caught:
        args = hd._fixed_arguments(body(src)["arguments"])
    assert len(caught) == 1
    assert "['--kernel', '--penalty']" in str(caught[0].message) and "appended after them win" in str(caught[0].message)
    assert args == ["--kernel", "linear", "--penalty=1.0", "--data", "d"]
    assert hd._sweep_body()["sampled_after_fixed"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overlap, no warning
        assert sweep(ScriptRunConfig(source_directory=".", script="t.py", arguments=["--data", "d"]))._fixed_arguments(
            ["--data", "d"]) == ["--data", "d"]


def test_an_estimator_is_taken_by_duck_typing_and_its_overlap_dropped():
    src = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--kernel", "linear", "--c", "-1"])

    class Estimator:  # what ferry.train.estimator's classes provide
        def _script_run_config(self):
            return src

    hd = sweep(estimator=Estimator(), space={"--kernel": choice("rbf"), "--c": uniform(0, 1)})
    assert hd.run_config is src
    with pytest.warns(UserWarning, match="are dropped"):
        assert hd._fixed_arguments(["--kernel", "linear", "--c", "-1", "--keep"]) == ["--keep"]

    class Older:  # Azure's estimators: a RunConfiguration and a source directory
        source_directory = "/tmp/src"
        run_config = RunConfiguration(script="old.py")

    assert sweep(estimator=Older()).run_config.script == "old.py"
    with pytest.raises(TypeError, match="has neither _script_run_config"):
        sweep(estimator=object())
    with pytest.raises(ValueError, match="one of run_config"):
        sweep(run_config=src, estimator=Estimator())


def test_hyperdrive_config_takes_azure_spellings():
    src = ScriptRunConfig(source_directory=".", script="t.py")
    goal = type("Goal", (), {"value": "MINIMIZE"})()  # Azure's enum member
    hd = HyperDriveConfig(GridParameterSampling({"--x": choice(1, 2)}), "loss", goal, run_config=src,
                          max_concurrent_runs=2, resume_from=["HD_old"])
    assert hd.primary_metric_goal == "Minimize" and hd.warm_start == ["HD_old"]
    assert '"primary_metric_goal": "Minimize"' in hd.spec()
    with pytest.raises(ValueError, match="primary_metric_goal must be"):
        HyperDriveConfig(GridParameterSampling({"--x": choice(1)}), "loss", "up", run_config=src)
    with pytest.raises(ValueError, match="pipeline=...") :
        HyperDriveConfig(GridParameterSampling({"--x": choice(1)}), "loss", "Minimize", run_config=src, pipeline=object())
