"""The SDK's snapshot rules: git's wildmatch and ignore files, with the golden cases the CLI's
tests share (tests/data/wildmatch_cases.json, read by src/snapshot/ignore_test.cc too); the same
snapshot id as the CLI is checked against a real server in tests/integration/test_sdk.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ferry import _snapshot
from ferry._snapshot import IgnoreRules, wildmatch

CASES_FILE = Path(__file__).resolve().parents[2] / "tests" / "data" / "wildmatch_cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))
VERDICTS = {"ignore": 1, "include": -1, "none": 0}  # IgnoreRules.check's answers


def test_the_golden_file_is_whole():
    assert len(CASES["wildmatch"]) >= 32 and len(CASES["ignore"]) >= 66


@pytest.mark.parametrize("pattern,text,expected", CASES["wildmatch"])
def test_wildmatch_matches_gits(pattern, text, expected):
    assert wildmatch(pattern.encode(), text.encode()) is expected


@pytest.mark.parametrize("rules,path,is_dir,base,expect", CASES["ignore"])
def test_ignore_rules_match_gits(rules, path, is_dir, base, expect):
    r = IgnoreRules(rules.encode(), base.encode())
    assert r.check(path.encode(), is_dir) == VERDICTS[expect]


def test_build_follows_the_walk_rules(tmp_path):
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    (tmp_path / ".amlignore").write_text("secret/\n")  # .amlignore wins over .gitignore here
    (tmp_path / "a.tmp").write_text("x")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "k").write_text("k")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "link.sh").symlink_to("run.sh")
    (tmp_path / "dangling").symlink_to("nowhere")
    snap = _snapshot.build(str(tmp_path))
    assert sorted(snap.files) == [".amlignore", ".gitignore", "a.tmp", "link.sh", "run.sh"]
    assert snap.files["run.sh"][1] == 0o755 and snap.files["link.sh"][3] == snap.files["run.sh"][3]
    assert any("dangling" in w for w in snap.warnings)
    assert snap.manifest().startswith(b"644 ")
    (tmp_path / "out").symlink_to("/etc/hostname")
    with pytest.raises(ValueError) as e:
        _snapshot.build(str(tmp_path))
    assert "'out' points outside the source directory" in str(e.value)
