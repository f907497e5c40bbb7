"""azureml.core.runconfig.EnvironmentDefinition, Azure's deprecated subclass of Environment:
code written against it builds, saves and loads an environment as Environment does."""

from ferry.core.environment import Environment
from ferry.core.runconfig import EnvironmentDefinition, RunConfiguration


def test_environment_definition_is_environment(tmp_path):
    assert EnvironmentDefinition is Environment
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==1.26.4\n")
    env = EnvironmentDefinition.from_pip_requirements("legacy", str(req))
    env.environment_variables["MODE"] = "train"
    assert isinstance(env, Environment)

    env.save_to_directory(str(tmp_path / "saved"))
    back = EnvironmentDefinition.load_from_directory(str(tmp_path / "saved"))
    assert back.name == "legacy"
    assert back.environment_variables == {"MODE": "train"}

    rc = RunConfiguration()
    rc.environment = EnvironmentDefinition("legacy-2")
    assert rc.environment.name == "legacy-2"
