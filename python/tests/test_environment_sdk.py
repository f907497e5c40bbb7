"""Azure ML SDK v1's Environment, CondaDependencies and estimators, renamed to ferry: the
specifications they generate and the run requests they become (no server; the runs
themselves are in tests/integration/test_environment_azure.py)."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

from ferry.core import ScriptRunConfig
from ferry.core.conda_dependencies import CondaDependencies
from ferry.core.environment import DockerSection, Environment, PythonSection

SNAP = "0" * 64


def body(config):
    return config._body("exp", SNAP, None)


def test_create_writes_a_conda_file_that_reads_back_the_same(tmp_path):
    cd = CondaDependencies.create(pip_packages=["scikit-learn==1.5.2", "joblib"], conda_packages=["numpy=1.26"],
                                  python_version="3.11")
    assert cd.conda_packages == ["python=3.11", "numpy=1.26"]
    assert cd.pip_packages == ["scikit-learn==1.5.2", "joblib"]
    assert cd.get_python_version() == "3.11"
    path = cd.save(str(tmp_path))
    assert path == str(tmp_path / "conda_dependencies.yml")
    back = CondaDependencies(conda_dependencies_file_path=path)
    assert back == cd and back.serialize_to_string() == cd.serialize_to_string()
    assert back.as_dict() == {"name": "project_environment", "channels": ["conda-forge"],
                              "dependencies": ["python=3.11", "pip", "numpy=1.26",
                                               {"pip": ["scikit-learn==1.5.2", "joblib"]}]}


def test_azure_shaped_file_with_comments_blank_lines_and_flow_lists_is_read(tmp_path):
    f = tmp_path / "env.yml"
    f.write_text("# a comment\n\nname: project_environment\ndependencies:\n  # The python interpreter version.\n"
                 "- python=3.8.13\n\n- pip:\n    # Required packages\n  - azureml-defaults\n"
                 "  - --extra-index-url https://example.invalid/simple\n  - \"torch==2.1 ; sys_platform == 'linux'\"\n"
                 "- numpy=1.26  # pinned\nchannels: [anaconda, conda-forge]\n")
    cd = CondaDependencies(str(f))
    assert cd.conda_packages == ["python=3.8.13", "numpy=1.26"]
    assert cd.pip_packages == ["azureml-defaults", "torch==2.1 ; sys_platform == 'linux'"]
    assert cd.pip_options == ["--extra-index-url https://example.invalid/simple"]
    assert cd.conda_channels == ["anaconda", "conda-forge"]
    # Unchanged, the file's own text is what is sent; changed, a regenerated one that reads back.
    assert cd.serialize_to_string() == f.read_text()
    cd.add_pip_package("joblib")
    again = CondaDependencies._from_string(cd.serialize_to_string())
    assert again == cd and "joblib" in again.pip_packages


def test_add_replaces_by_name_and_remove_names_what_is_missing():
    cd = CondaDependencies.create(pip_packages=["numpy==1.2"], conda_packages=["scipy"])
    cd.add_pip_package("NumPy>=2")
    cd.add_conda_package("conda-forge::scipy=1.11")
    cd.add_channel("pytorch")
    cd.add_channel("pytorch")
    assert cd.pip_packages == ["NumPy>=2"] and cd.conda_packages == ["conda-forge::scipy=1.11"]
    assert cd.conda_channels == ["conda-forge", "pytorch"]
    cd.set_python_version("3.10")
    cd.set_python_version("3.11")
    assert cd.conda_packages[0] == "python=3.11" and cd.get_python_version() == "3.11"
    cd.remove_pip_package("numpy")
    cd.remove_conda_package("scipy")
    assert cd.pip_packages == [] and cd.conda_packages == ["python=3.11"]
    with pytest.raises(ValueError, match="'nope' is not in the specification"):
        cd.remove_pip_package("nope")
    with pytest.raises(ValueError, match="python_version"):
        cd.set_python_version("three")
    with pytest.raises(ValueError, match="pip_package"):
        cd.add_pip_package("")
    with pytest.raises(ValueError, match="missing.yml"):
        CondaDependencies("/nonexistent/missing.yml")


def test_default_specification_pins_nothing():
    cd = CondaDependencies()
    assert cd.conda_packages == [] and cd.pip_packages == [] and cd.get_python_version() is None


def test_bare_environment_is_an_empty_managed_environment_of_the_targets_python():
    env = Environment("x")
    assert isinstance(env.python, PythonSection) and isinstance(env.docker, DockerSection)
    assert env.python.user_managed_dependencies is False and env.docker.base_image is None
    b = body(ScriptRunConfig(source_directory=".", script="t.py", environment=env))
    assert b["environment"]["type"] == "conda" and "docker" not in b and "python" not in b
    assert CondaDependencies._from_string(b["environment"]["content"]).pip_packages == []
    # Azure notebooks' deprecated docker.enabled without an image changes nothing.
    env.docker.enabled = True
    assert "docker" not in body(ScriptRunConfig(script="t.py", environment=env))


def test_environment_sections_become_the_run_request():
    env = Environment("sklearn-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
    env.docker.base_image = "python:3.11-slim"
    env.docker.shm_size = "2g"
    env.environment_variables = {"A": "1", "B": "env"}
    src = ScriptRunConfig(script="t.py", environment=env, environment_variables={"B": "config"})
    b = body(src)
    assert b["environment"] == {"name": "sklearn-env", "type": "conda",  # the name: a label on the run
                                "content": env.python.conda_dependencies.serialize_to_string()}
    assert b["docker"] == {"enabled": True, "base_image": "python:3.11-slim", "shm_size": "2g"}
    assert b["environment_variables"] == {"A": "1", "B": "config"}  # the ScriptRunConfig's own win
    env.docker.enabled = False
    assert "docker" not in body(src)

    user = Environment("mine")
    user.python.user_managed_dependencies = True
    user.python.interpreter_path = sys.executable
    b = body(ScriptRunConfig(script="t.py", environment=user))
    assert "environment" not in b and b["python"] == sys.executable
    with pytest.raises(ValueError, match="no specification to register"):
        user.register(None)

    filed = Environment("filed")
    filed.python.conda_dependencies_file = os.path.join("envs", "conda.yml")
    assert body(ScriptRunConfig(script="t.py", environment=filed))["environment"] == {
        "name": "filed", "type": "conda", "file": "envs/conda.yml"}


def test_changing_the_conda_dependencies_of_a_file_environment_is_what_runs(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nnumpy>=1.24\n")
    env = Environment.from_pip_requirements("p", str(req))
    assert env.spec_type == "pip" and env.content == "# comment\nnumpy>=1.24\n"
    assert env.python.conda_dependencies.pip_packages == ["numpy>=1.24"]
    assert env.spec_type == "pip"  # only read: still the requirements file
    env.python.conda_dependencies.add_pip_package("scipy")
    assert env.spec_type == "conda" and "scipy" in env.content and "numpy>=1.24" in env.content

    env.version = 3  # as if registered: sent by reference until changed
    clean = Environment("r", "pip", "numpy\n")
    clean.version = 2
    assert body(ScriptRunConfig(script="t.py", environment=clean))["environment"] == {"name": "r", "version": 2}
    assert body(ScriptRunConfig(script="t.py", environment=env))["environment"]["type"] == "conda"


def test_from_docker_image_clone_and_directory_round_trip(tmp_path):
    env = Environment.from_docker_image("img", "python:3.11-slim")
    assert env.python.user_managed_dependencies is True
    assert body(ScriptRunConfig(script="t.py", environment=env))["docker"]["base_image"] == "python:3.11-slim"
    env.environment_variables["X"] = "1"
    copy = env.clone("img2")
    copy.environment_variables["X"] = "2"
    copy.docker.base_image = "other"
    assert copy.name == "img2" and env.environment_variables["X"] == "1" and env.docker.base_image == "python:3.11-slim"

    conda = Environment("c")
    conda.python.conda_dependencies = CondaDependencies.create(pip_packages=["requests"], python_version="3.11")
    conda.environment_variables = {"K": "v"}
    conda.save_to_directory(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match="overwrite=True"):
        conda.save_to_directory(str(tmp_path / "saved"))
    back = Environment.load_from_directory(str(tmp_path / "saved"))
    assert back.name == "c" and back.environment_variables == {"K": "v"}
    assert back.content == conda.content and back.python.conda_dependencies.pip_packages == ["requests"]
    with pytest.raises(ValueError, match="from_docker_image"):
        Environment.from_dockerfile("d", "FROM python:3.11")


def test_from_existing_conda_environment_without_conda_names_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no conda, mamba or micromamba
    with pytest.raises(ValueError) as e:
        Environment.from_existing_conda_environment("e", "my-conda-env")
    assert "'my-conda-env'" in str(e.value) and "conda, mamba or micromamba" in str(e.value)


def test_from_existing_conda_environment_exports_it(monkeypatch, tmp_path):
    # A stand-in `conda` on PATH that prints what `conda env export -n NAME` prints.
    conda = tmp_path / "conda"
    conda.write_text("#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"env export -n proj\" ] || { echo \"no env $4\" >&2; exit 1; }\n"
                     "printf 'name: proj\\nchannels:\\n  - defaults\\ndependencies:\\n  - python=3.11.7=h1\\n"
                     "  - pip:\\n      - requests==2.31.0\\nprefix: /opt/conda/envs/proj\\n'\n")
    conda.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    env = Environment.from_existing_conda_environment("copy", "proj")
    cd = env.python.conda_dependencies
    assert cd.pip_packages == ["requests==2.31.0"] and cd.get_python_version() == "3.11.7"
    assert env.spec_type == "conda" and "prefix" not in env.content
    with pytest.raises(ValueError, match="'other' could not be exported with conda"):
        Environment.from_existing_conda_environment("copy", "other")


def _estimator(cls, src, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est = cls(str(src), **kw)
    assert any(issubclass(x.category, DeprecationWarning) and "ScriptRunConfig" in str(x.message) for x in w)
    return est


def test_estimator_becomes_a_script_run_config(tmp_path):
    from ferry.core.runconfig import MpiConfiguration
    from ferry.train.estimator import Estimator, Mpi

    (tmp_path / "reqs.txt").write_text("--extra-index-url https://example.invalid/simple\nrequests\n")
    est = _estimator(Estimator, tmp_path, entry_script="train.py", compute_target="local",
                     script_params={"--data": "d", "--epochs": 3, "--verbose": "", "--layers": [64, 32],
                                    "--none": None},
                     pip_packages=["tqdm"], conda_packages=["numpy=1.26"], pip_requirements_file="reqs.txt",
                     environment_variables={"SEED": "1"}, max_run_duration_seconds=60, node_count=2,
                     distributed_training=Mpi(process_count_per_node=2), custom_docker_image="python:3.11-slim")
    src = est._script_run_config()
    assert isinstance(src, ScriptRunConfig) and src is est.run_config and est.source_directory == str(tmp_path)
    b = body(src)
    assert b["script"] == "train.py" and b["target"] == "local"
    # Azure's order: key, value; list values spread; empty and None values leave the key.
    assert b["arguments"] == ["--data", "d", "--epochs", "3", "--verbose", "--layers", "64", "32", "--none"]
    cd = est.conda_dependencies
    assert cd.pip_packages == ["requests", "tqdm"] and cd.conda_packages == ["numpy=1.26"]
    assert cd.pip_options == ["--extra-index-url https://example.invalid/simple"]
    assert b["environment"] == {"name": "ferry-estimator", "type": "conda", "content": cd.serialize_to_string()}
    assert b["environment_variables"] == {"SEED": "1"} and b["max_run_duration_seconds"] == 60
    assert b["docker"]["base_image"] == "python:3.11-slim"
    assert isinstance(src.distributed_job_config, MpiConfiguration)
    assert b["communicator"] == "OpenMpi" and b["process_count_per_node"] == 2 and b["node_count"] == 2
    assert "gpus" not in b


def test_framework_estimators_pin_their_framework(tmp_path):
    from ferry.train.dnn import Chainer, Gloo, Nccl, ParameterServer, PyTorch, TensorFlow
    from ferry.train.sklearn import SKLearn

    sk = _estimator(SKLearn, tmp_path, entry_script="t.py", framework_version="1.0", pip_packages=["pandas"])
    assert sk.conda_dependencies.pip_packages == ["scikit-learn==1.0.2", "pandas"] and sk.framework_version == "1.0"
    assert _estimator(SKLearn, tmp_path, entry_script="t.py").framework_version == SKLearn.DEFAULT_VERSION
    assert "0.20.3" in SKLearn.get_supported_versions()
    with pytest.raises(ValueError, match="framework_version '9.9' is not supported; supported: 0.20.3"):
        _estimator(SKLearn, tmp_path, entry_script="t.py", framework_version="9.9")
    with pytest.raises(ValueError, match="node_count"):
        _estimator(SKLearn, tmp_path, entry_script="t.py", node_count=2)

    pt = _estimator(PyTorch, tmp_path, entry_script="t.py", framework_version="1.6", node_count=2,
                    process_count_per_node=2, distributed_training=Nccl(), use_gpu=True)
    b = body(pt.run_config)
    assert pt.conda_dependencies.pip_packages == ["torch==1.6.0", "torchvision==0.7.0"]
    assert b["communicator"] == "Nccl" and b["node_count"] == 2 and b["process_count_per_node"] == 2
    assert b["gpus"] == 2  # one per process on the node
    assert body(_estimator(PyTorch, tmp_path, entry_script="t.py", distributed_backend="gloo",
                           node_count=2).run_config)["communicator"] == "Gloo"
    with pytest.raises(ValueError, match="need a distributed backend"):
        _estimator(PyTorch, tmp_path, entry_script="t.py", node_count=2)

    tf = _estimator(TensorFlow, tmp_path, entry_script="t.py", framework_version="1.13", use_gpu=True,
                    distributed_training=ParameterServer(worker_count=3, parameter_server_count=2))
    b = body(tf.run_config)
    assert tf.conda_dependencies.pip_packages == ["tensorflow-gpu==1.13.2"]
    assert b["communicator"] == "ParameterServer" and b["worker_count"] == 3 and b["parameter_server_count"] == 2
    with pytest.raises(ValueError, match="distributed_training Gloo is not supported; supported: Mpi, ParameterServer"):
        _estimator(TensorFlow, tmp_path, entry_script="t.py", distributed_training=Gloo())
    assert _estimator(Chainer, tmp_path, entry_script="t.py").conda_dependencies.pip_packages == ["chainer==5.1.0"]


def test_estimator_environment_definition_and_bad_settings(tmp_path):
    from ferry.train.estimator import Estimator

    env = Environment("given")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["requests"])
    est = _estimator(Estimator, tmp_path, entry_script="t.py", environment_definition=env)
    assert est.run_config.environment is env
    with pytest.raises(ValueError, match="set pip_packages on the Environment instead"):
        _estimator(Estimator, tmp_path, entry_script="t.py", environment_definition=env, pip_packages=["x"])
    with pytest.raises(ValueError, match="vm_size is not supported"):
        _estimator(Estimator, tmp_path, entry_script="t.py", vm_size="STANDARD_D2_V2")
    with pytest.raises(ValueError, match="entry_script"):
        _estimator(Estimator, tmp_path)
    with pytest.raises(ValueError, match="framework_version"):
        _estimator(Estimator, tmp_path, entry_script="t.py", framework_version="1.0")
    with pytest.raises(ValueError, match="is not a directory"):
        _estimator(Estimator, tmp_path / "missing", entry_script="t.py")
    user = _estimator(Estimator, tmp_path, entry_script="t.py", user_managed=True)
    assert "environment" not in body(user.run_config)


def test_run_configuration_environment_is_an_environment():
    # Azure: run_config = RunConfiguration(); run_config.environment = env; ScriptRunConfig(run_config=...)
    from ferry.core import RunConfiguration

    env = Environment("rc-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["requests"])
    env.docker.enabled = True  # no image: nothing to do, not an error about docker.baseImage
    env.environment_variables = {"A": "1"}
    rc = RunConfiguration(script="t.py")
    rc.environment = env
    b = body(ScriptRunConfig(source_directory=".", run_config=rc))
    assert b["environment"]["content"] == env.python.conda_dependencies.serialize_to_string()
    assert "docker" not in b and b["environment_variables"] == {"A": "1"}
