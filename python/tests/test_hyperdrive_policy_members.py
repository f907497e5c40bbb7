"""Azure's members of the HyperDrive policies and samplings: POLICY_NAME / SAMPLING_NAME, the
settings as properties and to_json() in Azure's shape (the dicts below are what azureml-train-core
1.61 answers for the same calls)."""

import pytest

from ferry.train.hyperdrive import (BanditPolicy, BayesianParameterSampling, GridParameterSampling,
                                    MedianStoppingPolicy, NoTerminationPolicy, RandomParameterSampling,
                                    TruncationSelectionPolicy, choice, normal, quniform, randint, uniform)
from ferry.train.hyperdrive.policy import EarlyTerminationPolicy
from ferry.train.hyperdrive.sampling import HyperParameterSampling


def test_policy_names():
    assert BanditPolicy.POLICY_NAME == "Bandit"
    assert MedianStoppingPolicy.POLICY_NAME == "MedianStopping"
    assert TruncationSelectionPolicy.POLICY_NAME == "TruncationSelection"
    assert NoTerminationPolicy.POLICY_NAME == "Default"


def test_bandit_properties_and_json():
    p = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=3)
    assert (p.evaluation_interval, p.slack_factor, p.slack_amount, p.delay_evaluation) == (2, 0.1, None, 3)
    assert p.to_json() == {"name": "Bandit", "properties": {
        "evaluation_interval": 2, "delay_evaluation": 3, "slack_factor": 0.1}}
    p = BanditPolicy(slack_amount=0.2)
    assert (p.slack_factor, p.slack_amount) == (None, 0.2)
    assert p.to_json() == {"name": "Bandit", "properties": {
        "evaluation_interval": 1, "delay_evaluation": 0, "slack_amount": 0.2}}


def test_median_truncation_and_no_termination_json():
    m = MedianStoppingPolicy(evaluation_interval=5)
    assert (m.evaluation_interval, m.delay_evaluation) == (5, 0)
    assert m.to_json() == {"name": "MedianStopping", "properties": {"evaluation_interval": 5, "delay_evaluation": 0}}
    t = TruncationSelectionPolicy(20)
    assert (t.truncation_percentage, t.evaluation_interval, t.delay_evaluation) == (20, 1, 0)
    assert t.to_json() == {"name": "TruncationSelection", "properties": {
        "evaluation_interval": 1, "delay_evaluation": 0, "truncation_percentage": 20, "exclude_finished_jobs": False}}
    assert NoTerminationPolicy().to_json() == {"name": "Default"}
    assert isinstance(t, EarlyTerminationPolicy)


def test_to_json_does_not_change_the_sweep_file():
    p = BanditPolicy(slack_factor=0.1)
    p.to_json()["properties"]["slack_factor"] = 9
    assert p.slack_factor == 0.1
    assert p._spec()["type"] == "BanditPolicy"  # the server's name, unchanged


def test_sampling_names_and_json():
    assert (RandomParameterSampling.SAMPLING_NAME, GridParameterSampling.SAMPLING_NAME,
            BayesianParameterSampling.SAMPLING_NAME) == ("RANDOM", "GRID", "BayesianOptimization")
    space = {"--lr": uniform(0.01, 0.1), "--b": choice(16, 32), "c": choice(range(3)), "n": normal(0, 1),
             "r": randint(5), "q": quniform(1, 5, 1)}
    assert RandomParameterSampling(space).to_json() == {"name": "RANDOM", "parameter_space": {
        "--lr": ["uniform", [0.01, 0.1]], "--b": ["choice", [[16, 32]]], "c": ["choice", [[0, 1, 2]]],
        "n": ["normal", [0, 1]], "r": ["randint", [5]], "q": ["quniform", [1, 5, 1]]}}
    assert GridParameterSampling({"b": choice(1, 2)}).to_json() == {
        "name": "GRID", "parameter_space": {"b": ["choice", [[1, 2]]]}}
    assert BayesianParameterSampling({"lr": uniform(0, 1)}).to_json() == {
        "name": "BayesianOptimization", "parameter_space": {"lr": ["uniform", [0, 1]]}}


def test_sampling_seed_is_a_property():
    s = RandomParameterSampling({"x": uniform(0, 1)}, seed=7)
    assert s.to_json()["properties"] == {"seed": 7}
    assert isinstance(s, HyperParameterSampling)


@pytest.mark.parametrize("cls", [BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy])
def test_settings_absent_read_none(cls):
    p = cls(slack_factor=0.1) if cls is BanditPolicy else cls()
    if cls is NoTerminationPolicy:
        assert (p.evaluation_interval, p.delay_evaluation) == (None, None)
    else:
        assert p.evaluation_interval == 1
