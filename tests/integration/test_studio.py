"""Studio end to end in a real browser: Debian's chromium driven by playwright-core
(tests/support/browser.py), against a real server serving the built UI (build/web). Each
test saves screenshots of the pages it saw under build/test-artifacts/studio/ (CI keeps
them as artifacts). Server-side pieces of Studio are tested over plain HTTP in
test_studio_api.py; the front end's logic by Vitest (web/src/lib/*.test.ts)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from browser import Browser, missing  # noqa: E402

from conftest import wait_until  # noqa: E402
from test_runs import write  # noqa: E402
from test_slurm import cluster  # noqa: E402,F401  (fixture: a real 2-node Slurm cluster)
from test_ssh import lab  # noqa: E402,F401  (fixture: real sshd hosts)
from test_sweeps import setup as sweep_setup, submit as sweep_submit, wait_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser(ferry_bin):
    why = missing()
    if why:
        pytest.fail(f"a browser is required for the Studio tests: {why}")
    if not (Path(ferry_bin).parent.parent / "web" / "index.html").exists():
        pytest.fail(f"Studio is not built next to {ferry_bin} (make builds it into build/web)")
    b = Browser()
    yield b
    errors = b.console_errors()
    b.close()
    # The pages must not throw or break the CSP. The browser also logs each 4xx answer the
    # tests provoke on purpose (a bad token, a bad form); those are shown in the page.
    assert not [e for e in errors if "server responded with a status of 4" not in e], errors


def sign_in(b: Browser, ws, route: str = "#/runs"):
    b.goto(f"{ws.url}/#token={ws.token}")
    b.wait("[data-testid=nav-runs]")
    b.goto(f"{ws.url}/{route}")


def test_sign_in_and_what_an_empty_workspace_says(workspace, browser):
    b = browser
    b.goto(workspace.url + "/")
    b.wait("[data-testid=signin]")
    b.screenshot("signin")
    b.fill("[data-testid=signin-token]", "not-the-token")
    b.click("[data-testid=signin-submit]")
    b.wait_fn("return document.querySelector('[data-testid=signin]') &&"
              " /token/i.test(document.querySelector('[data-testid=signin]').innerText) &&"
              " document.querySelector('[data-testid=error-box], [data-testid=form-error], .form-error, [role=alert]');")
    b.fill("[data-testid=signin-token]", workspace.token)
    b.click("[data-testid=signin-submit]")
    b.wait("[data-testid=nav-runs]")
    b.goto(workspace.url + "/#/runs")
    b.wait("[data-testid=empty-state]")
    assert "ferry run submit" in b.text("[data-testid=empty-state]")
    b.screenshot("runs-empty")
    # The token stays in the browser only; the address bar no longer shows it.
    assert workspace.token not in b.eval("return location.href;")
    # A run that does not exist: the server's message, naming it.
    b.goto(workspace.url + "/#/runs/no-such-run")
    b.wait("[data-testid=error-box]")
    assert "no-such-run" in b.text("[data-testid=error-box]")
    b.screenshot("run-not-found")


LIVE = """
import os, time
from ferry import Run
run = Run.get_context()
for i in range(30):
    print(f"step {i} loss {1.0 / (i + 1):.4f}", flush=True)
    run.log("loss", 1.0 / (i + 1))
    time.sleep(0.3)
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights\\n")
"""


def test_a_run_submitted_from_the_cli_shows_up_and_its_logs_and_chart_update_live(workspace, src, browser, tmp_path):
    b = browser
    sign_in(b, workspace)
    b.wait("[data-testid=empty-state]")
    write(src / "live.py", LIVE)
    run_id, _ = workspace.submit(src, "live.py", extra=("--tag", "team=vision"))
    # The new run appears without a reload (the workspace stream), then opens.
    b.wait(f"[data-testid=run-row][data-run-id='{run_id}']", timeout=30)
    b.screenshot("runs-one-live")
    b.click(f"[data-testid=run-row][data-run-id='{run_id}']")
    b.wait("[data-testid=run-status]")
    b.click("[data-testid=tab-logs]")
    b.wait_fn("return /step 2 /.test(document.querySelector('[data-testid=log-view]')?.innerText || '');")
    early = b.text("[data-testid=log-view]")
    assert "step 29" not in early, "the log should still be growing"
    b.wait_fn("return /step 8 /.test(document.querySelector('[data-testid=log-view]')?.innerText || '');")
    b.screenshot("run-logs-live")
    b.click("[data-testid=tab-metrics]")
    b.wait("[data-testid=metric-chart][data-key=loss][data-drawn='1']")
    n1 = int(b.attr("[data-testid=metric-chart][data-key=loss]", "data-points"))
    assert 1 <= n1 < 30
    n2 = b.wait_fn("const c = document.querySelector('[data-testid=metric-chart][data-key=loss]');"
                   f" const n = +c.getAttribute('data-points'); return n > {n1} ? n : 0;")
    assert n2 > n1
    b.screenshot("run-metrics-live")
    b.wait_fn("return document.querySelector('[data-testid=run-status]')?.innerText.trim() === 'Completed';", timeout=60)
    b.wait_fn("return document.querySelector('[data-testid=metric-chart][data-key=loss]')?.getAttribute('data-points') === '30';")
    b.click("[data-testid=tab-logs]")
    b.wait_fn("return /step 29 /.test(document.querySelector('[data-testid=log-view]')?.innerText || '');")
    # Overview: the status timeline with every step the run took.
    b.click("[data-testid=tab-overview]")
    timeline = b.text("[data-testid=status-timeline]")
    for status in ("Queued", "Running", "Completed"):
        assert status in timeline, timeline
    b.screenshot("run-overview")
    # Outputs: a signed download link that works without the token.
    b.click("[data-testid=tab-outputs]")
    b.wait("[data-testid=artifact-link][data-path='outputs/model.txt']")
    b.screenshot("run-outputs")
    saved = tmp_path / "model.txt"
    name = b.download("[data-testid=artifact-link][data-path='outputs/model.txt']", saved)
    assert name == "model.txt" and saved.read_text() == "weights\n"
    # Snapshot: the file tree and a file's text.
    b.click("[data-testid=tab-snapshot]")
    b.click("[data-testid=snapshot-file][data-path='live.py']")
    b.wait_fn("return /Run.get_context/.test(document.querySelector('[data-testid=file-view]')?.innerText || '');")
    b.screenshot("run-snapshot")
    # The table filters by tag and shows the run's metric as a column.
    b.goto(f"{workspace.url}/#/runs")
    b.fill("[data-testid=filter-tag]", "team=nobody")
    b.press("[data-testid=filter-tag]", "Enter")
    b.wait("[data-testid=empty-state]")
    b.fill("[data-testid=filter-tag]", "team=vision")
    b.press("[data-testid=filter-tag]", "Enter")
    b.wait(f"[data-testid=run-row][data-run-id='{run_id}']")


def test_narrow_window_and_compare(workspace, src, browser):
    b = browser
    write(src / "m.py", """
        import sys
        from ferry import Run
        run = Run.get_context()
        for i in range(20):
            run.log("loss", float(sys.argv[1]) / (i + 1))
    """)
    a, _ = workspace.submit(src, "m.py", "1", wait=True)
    c, _ = workspace.submit(src, "m.py", "2", wait=True)
    sign_in(b, workspace, f"#/compare?runs={a},{c}&metric=loss")
    b.wait("[data-testid=compare-chart][data-series='2']")
    b.screenshot("compare")
    b.viewport(600, 800)
    b.goto(f"{workspace.url}/#/runs")
    b.wait(f"[data-testid=run-row][data-run-id='{a}']")
    # Nothing sticks out of the window sideways but the table's own scroller.
    overflow = b.eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert overflow <= 1, overflow
    b.screenshot("runs-narrow")
    b.viewport(1280, 800)


def test_attach_an_ssh_host_with_the_form_then_detach_it(workspace, browser, lab):
    b = browser
    host = lab.hosts[0]
    sign_in(b, workspace, "#/compute")
    b.wait("[data-testid=compute-row][data-name=local]")
    b.click("[data-testid=attach-button]")
    form = "[data-testid=attach-form]"
    # The form is generated from the server's kind table: a button for each kind that can be
    # attached, in the table's order, and each option's input.
    status, table, _ = workspace.api("GET", "/compute-kinds")
    assert status == 200, table
    attachable = [k["name"] for k in table["kinds"] if k["attachable"]]
    assert "ssh" in attachable and "local" not in attachable
    b.wait("[data-testid=attach-kind-ssh]")
    assert b.eval("return [...document.querySelectorAll('[role=tab][data-testid^=attach-kind-]')]"
                  ".map((e) => e.getAttribute('data-testid').slice('attach-kind-'.length));") == attachable
    # shown_when: a Slurm cluster's login fields only while "on this machine" is unchecked.
    b.click("[data-testid=attach-kind-slurm]")
    b.wait(f"{form} input[name=login]")
    assert b.count(f"{form} input[name=port]") == 1
    b.check(f"{form} input[name=local]")
    b.wait(f"{form} input[name=login]", state="detached")
    assert b.count(f"{form} input[name=port]") == 0
    b.click(f"{form} input[name=local]")
    b.wait(f"{form} input[name=login]")
    # one_of: neither the box nor a login is the client's own error, on the login field.
    b.fill(f"{form} input[name=name]", "hpc")
    b.fill(f"{form} input[name=shared_dir]", "/shared")
    b.click("[data-testid=attach-submit]")
    b.wait_fn("return /login node/i.test(document.querySelector('[data-testid=form-error]')?.innerText || '');")
    assert b.count(f"{form} .field.invalid input[name=login]") == 1
    # A managed cluster: its node size is three integer inputs; the command provider's fields
    # appear with it.
    b.click("[data-testid=attach-kind-cluster]")
    for field in ("cpus", "memory_mb", "gpus"):
        b.wait(f"{form} input[name={field}]")
    assert b.count(f"{form} input[name=start_command]") == 0
    b.select(f"{form} select[name=provider]", "command")
    b.wait(f"{form} input[name=start_command]")
    b.screenshot("compute-attach-cluster-form")
    b.click("[data-testid=attach-kind-ssh]")
    # The client's own check first, then the server's message verbatim (as the CLI prints it).
    b.fill(f"{form} input[name=name]", "bad name!")
    b.click("[data-testid=attach-submit]")
    b.wait("[data-testid=form-error]")
    b.fill(f"{form} input[name=name]", "box")
    b.fill(f"{form} input[name=host]", host.ip)
    b.fill(f"{form} input[name=port]", str(host.port))
    b.fill(f"{form} input[name=user]", host.user)
    b.fill(f"{form} input[name=key_file]", "relative/key")
    b.click("[data-testid=attach-submit]")
    b.wait_fn("return /absolute/i.test(document.querySelector('[data-testid=form-error]')?.innerText || '');")
    cli = workspace.cli("compute", "attach", "ssh", "box2", "--host", host.ip, "--key", "relative/key", check=False)
    server_msg = b.text("[data-testid=form-error]")
    assert "key" in server_msg.lower()
    assert cli.returncode != 0
    b.screenshot("compute-attach-error")
    b.fill(f"{form} input[name=key_file]", str(lab.client_key))
    b.click("[data-testid=attach-submit]")
    b.wait("[data-testid=compute-row][data-name=box]", timeout=120)
    assert "ssh" in b.text("[data-testid=compute-row][data-name=box]")
    assert workspace.cli_json("compute", "show", "box")["kind"] == "ssh"
    b.screenshot("compute-list")
    b.goto(f"{workspace.url}/#/compute/box")
    b.wait("[data-testid=compute-details]")
    b.wait_fn("return /ready/i.test(document.querySelector('[data-testid=compute-details]')?.innerText || '');",
              timeout=60)
    b.screenshot("compute-details")
    # Actions come from the kind's row too: an ssh host has a key to trust again, no power.
    b.wait("[data-testid=trust-button]")
    assert b.count("[data-testid=stop-button]") == 0 and b.count("[data-testid=start-button]") == 0
    b.click("[data-testid=detach-button]")
    b.wait("[data-testid=confirm-dialog]")
    b.screenshot("compute-detach-confirm")
    b.click("[data-testid=confirm-yes]")
    b.wait("[data-testid=compute-row][data-name=local]")
    wait_until(lambda: "box" not in workspace.cli("compute", "list").stdout, 30, "box to be detached")
    assert b.count("[data-testid=compute-row][data-name=box]") == 0


def test_sweep_page_shows_trials_best_and_parallel_coordinates(workspace, src, browser):
    sweep_setup(src, """\
        sampling:
          type: grid
          parameter_space:
          - name: --penalty
            expression: choice
            values: [1.1, 3.1, 0.9]
        policy:
          type: BanditPolicy
          evaluation_interval: 1
          slack_factor: 0.2
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_concurrent_runs: 1
        """, epochs=12, sleep=0.15)
    sweep_id, r = sweep_submit(workspace, src)
    assert sweep_id, r.stderr
    s = wait_sweep(workspace, sweep_id, timeout=240)
    stopped = [t["id"] for t in s["trials"] if t["status"] == "Canceled"]
    assert stopped, s["trials"]  # penalty 3.1 is hopeless: the policy stops it
    b = browser
    sign_in(b, workspace, f"#/sweeps/{sweep_id}")
    b.wait("[data-testid=sweep-summary]")
    b.wait(f"[data-testid=trials-table] [data-testid=trial-row][data-run-id='{s['best']['id']}']")
    assert b.count("[data-testid=trial-row]") == 3
    for t in stopped:
        assert b.attr(f"[data-testid=trial-row][data-run-id='{t}']", "data-stopped") == "1"
    assert s["best"]["id"] in b.text("[data-testid=best-trial]")
    b.wait("[data-testid=parcoords][data-lines='3']")
    b.wait("[data-testid=sweep-metric-chart]")
    b.screenshot("sweep", full_page=True)
    # The runs table lists the sweep and opens its page.
    b.goto(f"{workspace.url}/#/runs")
    b.click(f"[data-testid=run-row][data-run-id='{sweep_id}']")
    b.wait("[data-testid=parcoords]")


def test_runs_table_pages_through_100000_runs(make_workspace, browser, ferry_bin):
    ws = make_workspace()
    ws.stop_server()
    seed = Path(ferry_bin).parent.parent / "bench" / "seed_runs"
    subprocess.run([str(seed), str(ws.home / "ferry.db"), "100000"], check=True, capture_output=True)
    ws.start_server()
    b = browser
    sign_in(b, ws)
    b.wait("[data-testid=run-row][data-run-id='seed-0100000']")  # newest first
    assert b.text("[data-testid=runs-total]").replace(",", "").replace("\u202f", "").find("100000") >= 0
    assert b.eval("return performance.getEntriesByName('ferry:runs-first-page').length;") >= 1
    rendered = b.count("[data-testid=run-row]")
    assert 10 <= rendered <= 300, rendered  # virtualised: only what is on screen
    b.screenshot("runs-100k")
    # The far end comes from the server's last page, on demand.
    b.eval("const t = document.querySelector('[data-testid=runs-table]'); t.scrollTop = t.scrollHeight;")
    b.wait("[data-testid=run-row][data-run-id='seed-0000001']", timeout=30)
    assert b.count("[data-testid=run-row]") <= 300
    b.screenshot("runs-100k-end")
    # Sorted by a metric column and filtered, still server-side.
    b.select("[data-testid=filter-status]", "Failed")
    b.wait_fn("const t = document.querySelector('[data-testid=runs-total]')?.innerText || '';"
              " return /10[,.\u202f ]?000/.test(t);")
    b.fill("[data-testid=filter-metric]", "loss<0.002")
    b.press("[data-testid=filter-metric]", "Enter")
    b.wait_fn("const rows = [...document.querySelectorAll('[data-testid=run-row]')];"
              " const t = document.querySelector('[data-testid=runs-total]')?.innerText || '';"
              " return rows.length > 0 && !/10[,.\u202f ]?000/.test(t);")
    b.fill("[data-testid=filter-metric]", "loss<<")
    b.press("[data-testid=filter-metric]", "Enter")
    b.wait_fn("return /loss<0.5/.test(document.body.innerText);")
    b.screenshot("runs-100k-filtered")


def test_attach_slurm_with_the_form_and_read_each_ranks_log(make_workspace, src, browser, cluster):
    ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
    b = browser
    sign_in(b, ws, "#/compute")
    b.click("[data-testid=attach-button]")
    b.click("[data-testid=attach-kind-slurm]")
    form = "[data-testid=attach-form]"
    b.fill(f"{form} input[name=name]", "hpc")
    b.check(f"{form} input[name=local]")
    b.fill(f"{form} input[name=shared_dir]", str(cluster.shared_dir))
    b.fill(f"{form} input[name=partition]", "nosuch")
    b.click("[data-testid=attach-submit]")
    # The server's check, word for word as `ferry compute attach slurm` prints it.
    b.wait_fn("return /partition 'nosuch' does not exist; the cluster has:/.test("
              "document.querySelector('[data-testid=form-error]')?.innerText || '');", timeout=60)
    b.fill(f"{form} input[name=partition]", cluster.partition)
    b.click("[data-testid=attach-submit]")
    b.wait("[data-testid=compute-row][data-name=hpc]", timeout=60)
    # Its two nodes, idle, counted in the list and listed on its page.
    b.wait_fn("return /0 \\/ 2 \\/ 0 of 2/.test(document.querySelector(\"[data-testid=compute-row][data-name=hpc]\")"
              "?.innerText || '');", timeout=30)
    b.goto(f"{ws.url}/#/compute/hpc")
    b.wait("[data-testid=compute-nodes]")
    for node in cluster.node_names:
        assert node in b.text("[data-testid=compute-nodes]")
    b.screenshot("compute-slurm")
    write(src / "two.py", """
        import os, time
        rank = os.environ["RANK"]
        for i in range(3):
            print(f"rank {rank} line {i}", flush=True)
            time.sleep(0.2)
    """)
    write(src / "two.runconfig", "script: two.py\ntarget: hpc\nnodeCount: 2\n"
                                 "environment:\n  python:\n    userManagedDependencies: true\n")
    run_id = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "two.runconfig")).stdout.strip()
    assert ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=120)["status"] == "Completed"
    b.goto(f"{ws.url}/#/runs/{run_id}?tab=logs")
    b.wait("[data-testid=log-rank]")
    # All ranks, each line marked with its rank; then one rank alone.
    b.wait_fn("const t = document.querySelector('[data-testid=log-view]')?.innerText || '';"
              " return t.includes('[0] rank 0 line 2') && t.includes('[1] rank 1 line 2');", timeout=30)
    b.select("[data-testid=log-rank]", "1")
    b.wait_fn("const t = document.querySelector('[data-testid=log-view]')?.innerText || '';"
              " return t.includes('rank 1 line 0') && !t.includes('rank 0');")
    b.screenshot("run-logs-rank1")


def test_an_open_run_page_survives_a_server_crash_without_losing_or_repeating_lines(workspace, src, browser):
    write(src / "long.py", """
        import time
        from ferry import Run
        run = Run.get_context()
        for i in range(40):
            print(f"line {i:02d}", flush=True)
            run.log("loss", 1.0 / (i + 1))
            time.sleep(0.25)
    """)
    run_id, _ = workspace.submit(src, "long.py")
    b = browser
    sign_in(b, workspace, f"#/runs/{run_id}?tab=logs")
    b.wait_fn("return /line 05/.test(document.querySelector('[data-testid=log-view]')?.innerText || '');")
    port = int(workspace.url.rsplit(":", 1)[1])
    workspace.kill_server()  # kill -9: the page's streams drop; the run goes on
    time.sleep(1.5)
    workspace.start_server(port=port)
    # The page reconnects by itself; the server sends the state again and the page keeps
    # what it had without doubling it.
    b.wait_fn("return document.querySelector('[data-testid=run-status]')?.innerText.trim() === 'Completed';", timeout=90)
    b.wait_fn("return /line 39/.test(document.querySelector('[data-testid=log-view]')?.innerText || '');")
    lines = [l for l in b.text("[data-testid=log-view]").splitlines() if l.startswith("line ")]
    assert lines == [f"line {i:02d}" for i in range(40)], lines
    b.click("[data-testid=tab-metrics]")
    b.wait("[data-testid=metric-chart][data-key=loss][data-points='40']")
    b.screenshot("run-after-server-crash")
    # The browser logged the dropped connections (expected here) and nothing else.
    errors = b.console_errors()
    assert all("ERR_INCOMPLETE_CHUNKED_ENCODING" in e or "ERR_CONNECTION_REFUSED" in e
               or "ERR_EMPTY_RESPONSE" in e or "ERR_CONNECTION_RESET" in e for e in errors), errors


IRIS = "sepal_length;species;petals\n5.1;setosa;3\n4.9;setosa;\n6.3;virginica;5\n"
JOB = """
import os
from ferry import Run
run = Run.get_context()
with open(os.path.join(run.output_datasets["summary"], "count.txt"), "w") as f:
    f.write("3")
os.makedirs("outputs", exist_ok=True)
open("outputs/model.pkl", "wb").write(b"weights")
"""


def test_data_and_model_pages_show_a_tabular_dataset_its_lineage_a_runs_data_and_a_model(workspace, src, browser,
                                                                                         tmp_path):
    sys.path.insert(0, str(ROOT / "python"))
    from ferry import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace
    from ferry.data import OutputFileDatasetConfig

    ws = Workspace(url=workspace.url, token=workspace.token)
    store = ws.get_default_datastore()
    write(tmp_path / "data" / "part-0.csv", IRIS)
    store.upload(str(tmp_path / "data"), target_path="iris", show_progress=False)
    table = Dataset.Tabular.from_delimited_files((store, "iris/*.csv"), separator=";", validate=False)
    table = table.register(ws, "iris", description="flowers")
    write(src / "job.py", JOB)
    out = OutputFileDatasetConfig(name="summary").register_on_complete("counts")
    config = ScriptRunConfig(source_directory=str(src), script="job.py", python=sys.executable,
                             arguments=[table.as_named_input("table"), out])
    run = Experiment(ws, "data").submit(config)
    run.wait_for_completion()
    assert run.get_details()["status"] == "Completed", workspace.log(run.id)
    run.register_model("iris-model", model_path="outputs/model.pkl", tags={"algo": "tree"})
    # JSON lines in a directory datastore: the page reads the file through the datastore.
    write(tmp_path / "shared" / "events" / "a.jsonl", '{"user": "ann", "n": 1}\n{"user": "bob", "n": 2.5}\n')
    shared = Datastore.register_directory(ws, "shared", str(tmp_path / "shared"))
    Dataset.Tabular.from_json_lines_files((shared, "events/*.jsonl"), validate=False).register(ws, "events")

    b = browser
    # Datasets: the latest of each, its versions, then a version's schema, preview and lineage.
    sign_in(b, workspace, "#/datasets")
    b.wait("[data-testid=dataset-row][data-name=iris]")
    assert "flowers" in b.text("[data-testid=dataset-row][data-name=iris]")
    b.wait("[data-testid=dataset-row][data-name=counts]")
    b.click("[data-testid=dataset-row][data-name=iris] a")
    b.wait("[data-testid=dataset-version-row][data-version='1']")
    b.click("[data-testid=dataset-version-row][data-version='1'] a")
    b.wait("[data-testid=dataset-schema]")
    columns = b.eval("return [...document.querySelectorAll('[data-testid=schema-column]')]"
                     ".map((e) => [e.dataset.name, e.dataset.type]);")
    assert columns == [["sepal_length", "number"], ["species", "string"], ["petals", "integer"]], columns
    assert b.count("[data-testid=preview-row]") == 3
    assert "virginica" in b.text("[data-testid=dataset-preview]")
    assert "part-0.csv" in b.text("[data-testid=dataset-files]")
    assert "iris/*.csv" in b.text("[data-testid=dataset-definition]")
    b.wait(f"[data-testid=lineage-row][data-run-id='{run.id}'][data-direction=input]")
    b.screenshot("dataset-version", full_page=True)
    # The lineage links to the run, whose overview lists its inputs and outputs.
    b.click(f"[data-testid=lineage-row][data-run-id='{run.id}'] a")
    b.wait("[data-testid=run-inputs]")
    assert b.text("[data-testid=run-input][data-name=table] [data-testid=run-input-dataset]") == "iris:1"
    assert "workspaceblobstore/dataset/" in b.text("[data-testid=run-output][data-name=summary]")
    b.wait_fn("return document.querySelector('[data-testid=run-output-dataset]')?.innerText.trim() === 'counts:1';")
    b.screenshot("run-data", full_page=True)
    b.click("[data-testid=run-input-dataset]")
    b.wait("[data-testid=dataset-title]")
    assert b.text("[data-testid=dataset-title]") == "iris:1"
    # Datastores: the uploaded directory, browsed a level at a time.
    b.click("[data-testid=nav-datastores]")
    b.wait("[data-testid=datastore-row][data-name=workspaceblobstore]")
    b.click("[data-testid=datastore-row][data-name=workspaceblobstore] a")
    b.wait("[data-testid=datastore-entry][data-path=iris][data-dir='1']")
    b.click("[data-testid=datastore-entry][data-path=iris] a")
    b.wait("[data-testid=datastore-entry][data-path='iris/part-0.csv']")
    b.screenshot("datastore-files")
    b.goto(f"{workspace.url}/#/datastores")
    b.wait("[data-testid=datastore-row][data-name=shared]")
    assert str(tmp_path / "shared") in b.text("[data-testid=datastore-row][data-name=shared]")
    b.goto(f"{workspace.url}/#/datasets/events/latest")
    b.wait("[data-testid=dataset-schema]")
    columns = b.eval("return [...document.querySelectorAll('[data-testid=schema-column]')]"
                     ".map((e) => [e.dataset.name, e.dataset.type]);")
    assert columns == [["user", "string"], ["n", "number"]], columns
    assert "events/a.jsonl" in b.text("[data-testid=dataset-files]")
    # Models: the registered model, its versions with the source run, a version's files.
    b.click("[data-testid=nav-models]")
    b.wait("[data-testid=model-row][data-name=iris-model]")
    b.click("[data-testid=model-row][data-name=iris-model] a")
    b.wait("[data-testid=model-version-row][data-version='1']")
    row = b.text("[data-testid=model-version-row][data-version='1']")
    assert run.id in row and "algo=tree" in row, row
    b.click("[data-testid=model-version-row][data-version='1'] a")
    b.wait("[data-testid=model-file][data-path='model.pkl']")
    b.wait(f"[data-testid=lineage-row][data-run-id='{run.id}'][data-direction=output]")
    b.screenshot("model-version", full_page=True)


VALUES = """
    from ferry import Run
    run = Run.get_context()
    run.log("loss", 0.5)
    run.log("model", "ridge")
    run.log_table("citrus", {"fruit": ["orange", "lime"], "size": [10, 3]})
    run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
                                    "data": {"class_labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]}})
    import base64
    open("dot.png", "wb").write(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    run.log_image("dot", path="dot.png")
"""


def test_the_metrics_tab_shows_string_metrics_tables_and_images(workspace, src, browser):
    b = browser
    write(src / "values.py", VALUES)
    run_id, _ = workspace.submit(src, "values.py", wait=True)
    sign_in(b, workspace, f"#/runs/{run_id}?tab=metrics")
    b.wait("[data-testid=value-strings]")
    assert "ridge" in b.text("[data-testid=value-strings]")
    b.wait_fn("return document.querySelectorAll('[data-testid=value-table]').length === 2;")
    tables = b.text("[data-testid=run-values]")
    assert "orange" in tables and "lime" in tables and "actual \\ predicted" in tables, tables
    # The image comes through the run's signed link and is decoded by the browser.
    b.wait_fn("const i = document.querySelector('[data-testid=value-image]'); return i && i.complete && i.naturalWidth === 1;")
    b.wait("[data-testid=metric-chart][data-key=loss]")
    b.screenshot("run-metrics-values")
