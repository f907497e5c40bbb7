"""The SDK's snapshot rules: git's wildmatch and ignore files, with the CLI's golden cases
(src/snapshot/ignore_test.cc); the same snapshot id as the CLI is checked against a real
server in tests/integration/test_sdk.py."""

from __future__ import annotations

import os

import pytest

from ferry import _snapshot
from ferry._snapshot import IgnoreRules, wildmatch

CASES = [
    ("foo", "foo", True), ("foo", "foobar", False), ("*.o", "a.o", True), ("*.o", "dir/a.o", False),
    ("a?c", "abc", True), ("a?c", "a/c", False), ("[a-c]x", "bx", True), ("[a-c]x", "dx", False),
    ("[!a-c]x", "dx", True), ("[!a-c]x", "ax", False), ("[^a]x", "bx", True), ("[]]", "]", True),
    ("[[:digit:]]*", "7up", True), ("[[:digit:]]*", "up", False), ("\\*", "*", True), ("\\*", "x", False),
    ("[abc", "a", False), ("**/foo", "foo", True), ("**/foo", "a/b/foo", True), ("**/foo", "a/b/xfoo", False),
    ("abc/**", "abc/x", True), ("abc/**", "abc/x/y/z", True), ("abc/**", "abc", False), ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/b", True), ("a/**/b", "a/x/y/b", True), ("a/**/b", "a/x/y/c", False), ("**", "any/thing", True),
    ("a**b", "axxb", True), ("a**b", "a/b", False), ("*/b", "x/b", True), ("*/b", "x/y/b", False),
]


@pytest.mark.parametrize("pattern,text,expected", CASES)
def test_wildmatch_matches_gits(pattern, text, expected):
    assert wildmatch(pattern.encode(), text.encode()) is expected


def test_rules_last_match_wins_anchoring_dir_only_and_base():
    r = IgnoreRules(b"# comment\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/*.md\nesc\\ aped\\ \n", b"")
    assert r.check(b"a.log", False) == 1 and r.check(b"x/keep.log", False) == -1
    assert r.check(b"build", True) == 1 and r.check(b"build", False) == 0  # dir-only
    assert r.check(b"top.txt", False) == 1 and r.check(b"sub/top.txt", False) == 0  # anchored
    assert r.check(b"docs/a.md", False) == 1 and r.check(b"docs/x/a.md", False) == 0
    assert r.check(b"esc aped ", False) == 1
    sub = IgnoreRules(b"/only-here\n", b"sub")
    assert sub.check(b"sub/only-here", False) == 1 and sub.check(b"only-here", False) == 0


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
