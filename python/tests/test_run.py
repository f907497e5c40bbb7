"""Tests for the ferry in-script API and its metrics-file line format."""

import errno
import json
import math
import multiprocessing
import os
import subprocess
import sys
import threading

import pytest

from ferry import Run
from ferry.run import MAX_KEY_LENGTH, _reset_context

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.usefixtures("fresh_run_context")


@pytest.fixture
def online(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("FERRY_METRICS_FILE", str(path))
    monkeypatch.setenv("FERRY_RUN_ID", "run-42")
    monkeypatch.setenv("FERRY_EXPERIMENT", "diabetes")
    _reset_context()
    run = Run.get_context()

    def lines():
        if not path.exists():
            return []
        raw = path.read_bytes().decode("utf-8")
        assert raw == "" or raw.endswith("\n")
        return raw.splitlines()

    return run, path, lines


def records(lines):
    return [json.loads(line) for line in lines()]


# --------------------------------------------------------------------- online


def test_online_context_properties(online):
    run, path, _ = online
    assert Run.get_context() is run
    assert run.offline is False
    assert run.id == "run-42"
    assert run.experiment_name == "diabetes"
    assert not path.exists()  # opened lazily on first write


def test_metric_point_exact_format(online):
    run, path, lines = online
    run.log("mse", 3.2)
    run.log("loss", 0.5, step=3)
    run.log("epoch", 7, step=0)
    raw = lines()
    assert len(raw) == 3
    recs = [json.loads(x) for x in raw]
    assert recs[0]["k"] == "mse" and recs[0]["v"] == 3.2 and recs[0]["s"] is None
    assert recs[1] == {"k": "loss", "v": 0.5, "s": 3, "t": recs[1]["t"]}
    assert recs[2]["v"] == 7 and isinstance(recs[2]["v"], int) and recs[2]["s"] == 0
    for line, rec in zip(raw, recs):
        assert list(rec) == ["k", "v", "s", "t"]
        assert isinstance(rec["t"], float)
        # exactly 6 decimals, no spaces
        assert " " not in line
        t_text = line.rsplit('"t":', 1)[1].rstrip("}")
        assert len(t_text.split(".")[1]) == 6
    assert raw[0].startswith('{"k":"mse","v":3.2,"s":null,"t":')
    assert raw[1].startswith('{"k":"loss","v":0.5,"s":3,"t":')


def test_float_repr_roundtrip(online):
    run, _, lines = online
    vals = [0.1, 1e-300, 1.7976931348623157e308, -0.0, 1e22, 123456789.123456789]
    for v in vals:
        run.log("x", v)
    got = [r["v"] for r in records(lines)]
    assert got == vals


def test_nonfinite_encoding(online):
    run, _, lines = online
    run.log("a", float("nan"))
    run.log("a", float("inf"))
    run.log("a", float("-inf"))
    raw = lines()
    assert '"v":"nan"' in raw[0]
    assert '"v":"inf"' in raw[1]
    assert '"v":"-inf"' in raw[2]
    assert [r["v"] for r in records(lines)] == ["nan", "inf", "-inf"]


def test_bool_written_as_number(online):
    run, _, lines = online
    run.log("flag", True)
    run.log("flag", False)
    raw = lines()
    assert '"v":1,' in raw[0] and '"v":0,' in raw[1]


class _FloatLike:
    def __float__(self):
        return 2.5


class _IntLike:
    def __float__(self):
        return 4.0

    def __index__(self):
        return 4


def test_float_like_objects_accepted(online):
    run, _, lines = online
    run.log("f", _FloatLike())
    run.log("i", _IntLike())
    recs = records(lines)
    assert recs[0]["v"] == 2.5
    assert recs[1]["v"] == 4 and isinstance(recs[1]["v"], int)


def test_numpy_scalars_if_available(online):
    np = pytest.importorskip("numpy")
    run, _, lines = online
    run.log("a", np.float64(1.5))
    run.log("b", np.float32(float("nan")))
    run.log("c", np.int64(9), step=np.int32(2))
    run.log("d", np.bool_(True))
    recs = records(lines)
    assert [r["v"] for r in recs] == [1.5, "nan", 9, 1]
    assert recs[2]["s"] == 2


@pytest.mark.parametrize("bad", [b"1", [1.0], {"a": 1}, 1 + 2j, object()])
def test_type_error_names_key_and_type(online, bad):
    run, _, lines = online
    with pytest.raises(TypeError) as exc:
        run.log("my_metric", bad)
    msg = str(exc.value)
    assert "my_metric" in msg
    assert type(bad).__name__ in msg
    assert lines() == []


def test_bad_step_type(online):
    run, _, lines = online
    with pytest.raises(TypeError):
        run.log("x", 1.0, step=1.5)
    with pytest.raises(TypeError):
        run.log("x", 1.0, step="3")
    assert lines() == []


@pytest.mark.parametrize("bad", ["", "k" * (MAX_KEY_LENGTH + 1), None, 5])
def test_value_error_on_bad_key(online, bad):
    run, _, lines = online
    with pytest.raises(ValueError) as exc:
        run.log(bad, 1.0)
    text = repr(bad) if not isinstance(bad, str) or len(bad) < 40 else repr(bad[:40])
    assert text in str(exc.value)
    assert lines() == []


def test_max_length_key_ok(online):
    run, _, lines = online
    key = "k" * MAX_KEY_LENGTH
    run.log(key, 1)
    assert records(lines)[0]["k"] == key


def test_key_escaping(online):
    run, _, lines = online
    keys = ['quo"te', "back\\slash", "new\nline", "tab\t", "ctl\x01", "ünïcödé/λ", "emoji 😀"]
    for k in keys:
        run.log(k, 1.0)
    raw = lines()
    assert len(raw) == len(keys)
    assert [json.loads(x)["k"] for x in raw] == keys


def test_log_list(online):
    run, _, lines = online
    run.log_list("losses", [1.0, 2, float("nan"), True])
    recs = records(lines)
    assert [r["k"] for r in recs] == ["losses"] * 4
    assert [r["v"] for r in recs] == [1.0, 2, "nan", 1]
    assert all(r["s"] is None for r in recs)


def test_log_list_validates_before_writing(online):
    run, _, lines = online
    with pytest.raises(TypeError):
        run.log_list("losses", [1.0, [2]])
    with pytest.raises(TypeError):
        run.log_list("losses", [1.0, "two", object()])
    assert lines() == []


def test_log_list_large_batches(online):
    run, _, lines = online
    run.log_list("big", range(2000))
    assert [r["v"] for r in records(lines)] == list(range(2000))


def test_log_row_steps(online):
    run, _, lines = online
    run.log_row("table", a=1, b=2.5)
    run.log_row("table", a=3, b=4.5)
    run.log_row("other", x=0.1)
    recs = records(lines)
    assert [(r["k"], r["v"], r["s"]) for r in recs if "v" in r] == [
        ("table/a", 1, 0),
        ("table/b", 2.5, 0),
        ("table/a", 3, 1),
        ("table/b", 4.5, 1),
        ("other/x", 0.1, 0),
    ]
    # Each row is also stored whole, as Azure ML's row metric (its table in get_metrics).
    assert [(r["k"], r["x"], r["y"], r["s"]) for r in recs if "x" in r] == [
        ("table", {"a": 1, "b": 2.5}, "row", 0),
        ("table", {"a": 3, "b": 4.5}, "row", 1),
        ("other", {"x": 0.1}, "row", 0),
    ]
    assert recs[0]["t"] == recs[1]["t"] == recs[2]["t"]


def test_log_row_invalid_does_not_consume_row(online):
    run, _, lines = online
    with pytest.raises(TypeError) as exc:
        run.log_row("table", a=1, b=[2])
    assert "table/b" in str(exc.value)
    run.log_row("table", a=1, b="x")  # a str cell is stored in the row; only numbers are points
    recs = records(lines)
    assert [(r["k"], r["s"]) for r in recs] == [("table/a", 0), ("table", 0)]
    assert recs[1]["x"] == {"a": 1, "b": "x"}


def test_log_row_threads_unique_steps(online):
    run, _, lines = online

    def worker():
        for _ in range(200):
            run.log_row("t", v=1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = sorted(r["s"] for r in records(lines) if "v" in r)
    assert steps == list(range(800))


def test_tags(online):
    run, _, lines = online
    run.set_tags({"model": "ridge", "alpha": 0.5, "quo\"te": "a\nb"})
    run.tag("baseline")
    run.tag("seed", 42)
    raw = lines()
    assert raw[0] == '{"tags":{"model":"ridge","alpha":"0.5","quo\\"te":"a\\nb"}}'
    assert json.loads(raw[1]) == {"tags": {"baseline": ""}}
    assert json.loads(raw[2]) == {"tags": {"seed": "42"}}
    assert run.get_tags() == {"model": "ridge", "alpha": "0.5", 'quo"te': "a\nb", "baseline": "", "seed": "42"}
    with pytest.raises(ValueError):
        run.tag("", "x")


def test_register_model_in_a_script_asks_the_server_through_a_tag(online):
    # The outputs are stored when the script ends: the server registers the version then.
    run, _, lines = online
    assert run.register_model("clf", model_path="outputs/model.pkl/", tags={"k": "v"},
                              properties={"acc": "0.9"}) is None
    (key, value), = json.loads(lines()[-1])["tags"].items()
    assert key == "ferry.register_model/clf"
    assert json.loads(value) == {"path": "outputs/model.pkl", "description": "", "tags": {"k": "v"},
                                 "properties": {"acc": "0.9"}}
    run.register_model("all")
    assert json.loads(json.loads(lines()[-1])["tags"]["ferry.register_model/all"])["path"] == "outputs"


def test_register_model_offline_raises(monkeypatch):
    monkeypatch.delenv("FERRY_METRICS_FILE", raising=False)
    _reset_context()
    with pytest.raises(RuntimeError, match="offline"):
        Run.get_context().register_model("clf")
    _reset_context()


def test_get_metrics_online_raises(online):
    run, _, _ = online
    with pytest.raises(RuntimeError):
        run.get_metrics()


def test_appends_to_existing_file_and_flush(online):
    run, path, lines = online
    path.write_text('{"k":"pre","v":1,"s":null,"t":1.000000}\n')
    run.log("after", 2)
    run.flush()
    assert [r["k"] for r in records(lines)] == ["pre", "after"]


def test_crash_loses_nothing(tmp_path):
    """Points logged before a hard crash (os._exit / kill) are on disk."""
    path = tmp_path / "m.jsonl"
    code = (
        "import os\n"
        "from ferry import Run\n"
        "r = Run.get_context()\n"
        "for i in range(100): r.log('x', i, step=i)\n"
        "os._exit(3)\n"
    )
    env = dict(os.environ, FERRY_METRICS_FILE=str(path), PYTHONPATH=PYTHON_DIR)
    proc = subprocess.run([sys.executable, "-c", code], env=env)
    assert proc.returncode == 3
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["s"] for r in recs] == list(range(100))


def _append_worker(path, tag, n):
    os.environ["FERRY_METRICS_FILE"] = path
    _reset_context()
    run = Run.get_context()
    for i in range(n):
        run.log(f"proc{tag}", float(i) + 0.123456789, step=i)


def test_concurrent_processes_append(tmp_path):
    path = str(tmp_path / "m.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_worker, args=(path, t, 5000)) for t in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    assert raw.endswith("\n")
    recs = [json.loads(line) for line in raw.splitlines()]
    assert len(recs) == 10000
    for tag in (0, 1):
        steps = [r["s"] for r in recs if r["k"] == f"proc{tag}"]
        assert steps == list(range(5000))


# -------------------------------------------------------------------- offline


def test_offline_mode(capsys):
    run = Run.get_context()
    assert run.offline is True
    assert run.experiment_name is None
    assert run.id.startswith("offline-")
    run.log("mse", 3.2)
    run.log("loss", 1.0, step=0)
    run.log("loss", 0.5, step=1)
    run.log("flag", True)
    run.log("bad", float("nan"))
    run.log_list("lst", [1, 2])
    run.log_row("tbl", a=1, b=2.0)
    run.log_row("tbl", a=3, b=4.0)
    run.set_tags({"k": "v"})
    err = capsys.readouterr().err
    assert "[ferry offline] mse=3.2\n" in err
    assert "[ferry offline] loss=1.0 (step 0)\n" in err
    assert "[ferry offline] loss=0.5 (step 1)\n" in err
    assert "[ferry offline] tags: k=v" in err
    m = run.get_metrics()
    assert m["mse"] == 3.2
    assert m["loss"] == [1.0, 0.5]
    assert m["flag"] == 1
    assert math.isnan(m["bad"])
    assert m["lst"] == [1, 2]
    assert m["tbl/a"] == [1, 3]
    assert m["tbl/b"] == [2.0, 4.0]
    assert m["tbl"] == {"a": [1, 3], "b": [2.0, 4.0]}
    assert run.get_tags() == {"k": "v"}
    run.flush()


def test_offline_validation_same_as_online(capsys):
    run = Run.get_context()
    with pytest.raises(TypeError):
        run.log("x", b"1.0")
    with pytest.raises(ValueError):
        run.log("", 1.0)
    assert run.get_metrics() == {}


def test_offline_does_no_file_io(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Run.get_context().log("a", 1)
    assert os.listdir(tmp_path) == []


def test_empty_env_var_is_offline(monkeypatch):
    monkeypatch.setenv("FERRY_METRICS_FILE", "")
    _reset_context()
    assert Run.get_context().offline is True


# --------------------------------------------------------------------- import


def test_import_is_light():
    code = (
        "import sys\n"
        "import ferry\n"
        "bad = [m for m in ('json', 'urllib', 'urllib.request', 'socket', 'http', 'ssl')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    env.pop("FERRY_METRICS_FILE", None)
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_logging_does_not_import_json(tmp_path):
    code = (
        "import sys\n"
        "from ferry import Run\n"
        "r = Run.get_context()\n"
        "r.log('a', 1.0); r.log_list('b', [1]); r.log_row('c', x=1); r.tag('t', 'v')\n"
        "print('json' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, FERRY_METRICS_FILE=str(tmp_path / "m"))
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------- full disk


class _FlakyDisk:
    """os.write that fails with ENOSPC on the metrics file while `full` (after letting
    `partial` bytes of the failing call through), and passes every other write on."""

    def __init__(self, monkeypatch, run):
        self.run = run
        self.full = False
        self.partial = 0
        self.real = os.write
        monkeypatch.setattr(os, "write", self)

    def __call__(self, fd, data):
        if fd != self.run._fd or not self.full:
            return self.real(fd, data)
        if self.partial:
            n, self.partial = self.partial, 0
            return self.real(fd, bytes(data[:n]))
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_never_raises_into_the_script_and_the_drops_are_counted(online, monkeypatch, capsys):
    run, _, lines = online
    run.log("before", 1.0)
    disk = _FlakyDisk(monkeypatch, run)
    disk.full = True
    for i in range(5):
        run.log("during", i)  # nothing raised
    run.log_list("during_list", [1, 2, 3])
    run.log_row("during_row", a=1, b=2)
    run.tag("during_tag", "x")
    err = capsys.readouterr().err
    assert err.count("ferry: warning: cannot write metrics") == 1, err  # once, not per point
    assert "No space left on device" in err and "ferry.dropped_metric_points" in err
    disk.full = False
    run.log("after", 2.0)
    recs = records(lines)
    assert [r.get("k") for r in recs if "k" in r] == ["before", "after"]
    # 5 points + one log_list write of 3 + one row of 2 (and the row whole) + one tag line = 12.
    assert {"tags": {"ferry.dropped_metric_points": "12"}} in recs
    # Back to normal: more drops later add up.
    disk.full = True
    run.log("during", 9)
    disk.full = False
    run.log("after", 3.0)
    assert records(lines)[-1] == {"tags": {"ferry.dropped_metric_points": "13"}}
    assert capsys.readouterr().err == ""  # still warned only once


def test_a_line_torn_by_a_full_disk_is_ended_before_the_next(online, monkeypatch):
    run, path, _ = online
    disk = _FlakyDisk(monkeypatch, run)
    disk.full = True
    disk.partial = 7  # '{"k":"t' reaches the file, the rest does not
    run.log("torn", 1.0)
    disk.full = False
    run.log("whole", 2.0)
    raw = path.read_bytes().decode()
    torn, rest = raw.split("\n", 1)
    assert torn == '{"k":"t'  # the agent skips it as a malformed line
    recs = [json.loads(x) for x in rest.splitlines()]
    assert recs[0]["k"] == "whole"
    assert recs[1] == {"tags": {"ferry.dropped_metric_points": "1"}}


def test_the_dropped_count_is_written_at_exit(tmp_path):
    # A script that ends while the disk is still full for its last writes but not at exit.
    path = tmp_path / "metrics.jsonl"
    script = """
import errno, os
from ferry import Run
run = Run.get_context()
real = os.write
state = {"full": True}
def write(fd, data):
    if fd == run._fd and state["full"]:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(fd, data)
os.write = write
run.log("lost", 1)
run.log("lost", 2)
state["full"] = False
print("exit code 0 despite the full disk")
"""
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR, "FERRY_METRICS_FILE": str(path), "FERRY_RUN_ID": "r"}
    p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "exit code 0 despite the full disk" in p.stdout
    assert p.stderr.count("ferry: warning: cannot write metrics") == 1, p.stderr
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"tags": {"ferry.dropped_metric_points": "2"}}]
