"""The C++ S3 client (src/data) against a real S3 server, and its SigV4 signatures against botocore's.

- The gtest suite S3StoreTest (src/data/s3_store_test.cc: put/get, multipart and its resume, list
  pages, presigned GET/PUT, wrong credentials, missing keys, https with the store's own CA) runs
  against s3proxy started here (its http and https endpoints); ctest
  alone skips it, so this test is what exercises it (with every case required to pass, none skipped).
- sigv4_sign (src/data/sigv4_sign_main.cc) signs fixed requests; botocore, AWS's own signer, must
  produce the same Authorization header and presigned URL for the same inputs.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from conftest import _ferry_bin  # noqa: E402
from s3proxy import s3proxy_factory  # noqa: E402, F401 (a fixture)


def _build_dir() -> Path:
    # FERRY_BIN is <build>/bin/ferry; the test binaries sit in the same tree.
    return _ferry_bin().parent.parent


def _binary(rel: str) -> Path:
    p = _build_dir() / rel
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"{p} not found: build it (cmake --build {_build_dir()} --target unit_tests)", pytrace=False)
    return p


def test_s3_client_against_s3proxy(s3proxy_factory, tmp_path):
    s3 = s3proxy_factory()
    test_bin = Path(os.environ.get("FERRY_DATA_TEST_BIN") or _binary("src/data/data_test"))
    r = subprocess.run([str(test_bin), "--gtest_filter=S3StoreTest.*", "--gtest_brief=0"],
                       env={**os.environ, **s3.test_env(), "TMPDIR": str(tmp_path)},
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "SKIPPED" not in out, out[-3000:]
    assert "[  PASSED  ] 9 tests." in out, out[-3000:]
    # Nothing of the secret in what the client printed (its errors are in the test output).
    assert s3.secret_key not in out


# Fixed inputs: (method, url path as the application means it, query, headers, payload hash or None for
# UNSIGNED-PAYLOAD, session token).
SIGN_CASES = [
    ("GET", "/bucket/a b/c+d~é", [("list-type", "2"), ("prefix", "a b")], {"Range": "bytes=0-9"},
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""),
    ("PUT", "/bucket/k", [("partNumber", "3"), ("uploadId", "id/+=")],
     {"Content-Type": "application/octet-stream"}, None, ""),
    ("POST", "/bucket/dir/file.bin", [("uploads", "")], {"Content-Type": "application/xml"}, None, "tok/en=+"),
    ("HEAD", "/bucket", [], {}, None, ""),
    ("DELETE", "/bucket/we!rd*(key)'s", [("uploadId", "u")], {}, None, ""),
]
ACCESS, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-central-1"
HOST = "s3.example.com:9000"
FIXED = datetime.datetime(2026, 12, 7, 8, 0, 0)


def _url(scheme: str, path: str, query) -> str:
    q = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in query)
    return f"{scheme}://{HOST}{quote(path.encode(), safe='/~')}" + (f"?{q}" if q else "")


def _sign_tool(method, path, query, headers, payload, token, presign=0) -> str:
    argv = [str(_binary("src/data/sigv4_sign")), "--method", method, "--host", HOST, "--path", path,
            "--date", FIXED.strftime("%Y%m%dT%H%M%SZ"), "--region", REGION, "--access", ACCESS,
            "--secret", SECRET]
    if token:
        argv += ["--token", token]
    if payload:
        argv += ["--payload", payload]
    for k, v in query:
        argv += ["--query", f"{k}={v}"]
    for k, v in headers.items():
        argv += ["--header", f"{k}:{v}"]
    if presign:
        argv += ["--presign", str(presign)]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("case", SIGN_CASES, ids=[c[0] + " " + c[1] for c in SIGN_CASES])
def test_sigv4_authorization_matches_botocore(case):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    method, path, query, headers, payload, token = case
    # botocore signs the payload over http; over https it honours payload_signing_enabled=False.
    req = AWSRequest(method=method, url=_url("http" if payload else "https", path, query), headers=dict(headers))
    if not payload:
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED):
        botocore.auth.S3SigV4Auth(Credentials(ACCESS, SECRET, token or None), "s3", REGION).add_auth(req)
    assert req.headers["X-Amz-Content-SHA256"] == (payload or "UNSIGNED-PAYLOAD")
    assert _sign_tool(method, path, query, headers, payload, token) == req.headers["Authorization"]


@pytest.mark.parametrize("method,token", [("GET", ""), ("PUT", ""), ("GET", "tok/en=+")])
def test_sigv4_presigned_url_matches_botocore(method, token):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = "/bucket/data set/part 0001.parquet"
    req = AWSRequest(method=method, url=_url("http", path, []))
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED):
        botocore.auth.S3SigV4QueryAuth(Credentials(ACCESS, SECRET, token or None), "s3", REGION,
                                       expires=3600).add_auth(req)
    ours = dict(parse_qsl(_sign_tool(method, path, [], {}, None, token, presign=3600), keep_blank_values=True))
    theirs = dict(parse_qsl(urlsplit(req.url).query, keep_blank_values=True))
    assert ours == theirs
    assert SECRET not in str(ours)
