"""A real S3 server for Ferry's tests and benchmarks: s3proxy (github.com/gaul/s3proxy, Apache-2.0,
Java 17) with jclouds' filesystem backend on a temp directory, on 127.0.0.1 and a free port.

    with S3Proxy(tmp_path / "s3") as s3:           # started, answering, bucket "ferry-test" made
        s3.endpoint                                 # "http://127.0.0.1:PORT"
        s3.tls_endpoint, s3.ca_file                 # "https://127.0.0.1:PORT2", its certificate (PEM)
        s3.access_key, s3.secret_key, s3.bucket     # SigV2/SigV4 credentials it checks
        s3.create_bucket("another")
        subprocess.run([...], env={**os.environ, **s3.test_env()})   # FERRY_S3_TEST_* variables

    # as a pytest fixture factory (imported into a test module: `from s3proxy import s3proxy_factory`)
    def test_x(s3proxy_factory):
        s3 = s3proxy_factory()                      # stopped at teardown

The jar (s3proxy-<VERSION>-jar-with-dependencies.jar from Maven Central) is downloaded and checked
against Maven's SHA-1 by `scripts/setup.sh test` into .cache/s3proxy/ (FERRY_S3PROXY_JAR names
another). Buckets are directories of the filesystem backend (jclouds maps a container to a
directory under jclouds.filesystem.basedir), so create_bucket makes one: no S3 call, no
credentials. Objects land in `<dir>/data/<bucket>/<key>`. With tls (the default) the same store
also answers https on a second port, with a self-signed certificate for 127.0.0.1 made by keytool
(EC P-256, 30 days) whose PEM is `ca_file`.

Stdlib only (Python 3.11). Needs `java` and `keytool` 17+ (openjdk-17-jre-headless).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSION = "4.1.0"
JAR = REPO / ".cache" / "s3proxy" / f"s3proxy-{VERSION}-jar-with-dependencies.jar"


def jar_path() -> Path:
    env = os.environ.get("FERRY_S3PROXY_JAR")
    return Path(env) if env else JAR


def missing_reason() -> str | None:
    """What this machine lacks to run s3proxy (tests fail with it rather than skip), or None."""
    missing = [f"{t} (openjdk-17-jre-headless)" for t in ("java", "keytool") if not shutil.which(t)]
    if not jar_path().is_file():
        missing.append(f"{jar_path()} (the s3proxy jar)")
    if missing:
        return f"s3proxy needs: {', '.join(missing)}: run scripts/setup.sh test"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Proxy:
    def __init__(self, directory: Path, bucket: str = "ferry-test", access_key: str = "ferry-test-key",
                 secret_key: str = "ferry-test-secret-7f3a9c", heap: str = "512m", tls: bool = True):
        self.dir = Path(directory)
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.heap = heap
        self.tls = tls
        self.port = 0
        self.endpoint = ""
        self.tls_endpoint = ""
        self.ca_file = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "s3proxy.log"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def __enter__(self) -> "S3Proxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        if (why := missing_reason()):
            raise RuntimeError(why)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tls_props = ""
        if self.tls:
            tls_props = self._make_keystore()
        for _ in range(3):  # the free ports may be taken between probing and binding them
            self.port = _free_port()
            self.endpoint = f"http://127.0.0.1:{self.port}"
            if self.tls:
                self.tls_endpoint = f"https://127.0.0.1:{_free_port()}"
            props = self.dir / "s3proxy.conf"
            props.write_text(
                (f"s3proxy.secure-endpoint={self.tls_endpoint}\n{tls_props}" if self.tls else "") +
                f"s3proxy.endpoint={self.endpoint}\n"
                "s3proxy.authorization=aws-v2-or-v4\n"
                f"s3proxy.identity={self.access_key}\n"
                f"s3proxy.credential={self.secret_key}\n"
                "jclouds.provider=filesystem\n"
                f"jclouds.filesystem.basedir={self.data_dir}\n")
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    ["java", f"-Xmx{self.heap}", "-jar", str(jar_path()), "--properties", str(props)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            if self._wait_ready(timeout):
                self.create_bucket(self.bucket)
                return
            self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        raise RuntimeError(f"s3proxy did not start on 127.0.0.1 (log {self.log_path}):\n{tail}")

    def _make_keystore(self) -> str:
        """A self-signed certificate for 127.0.0.1 in a PKCS12 keystore, its PEM in ca_file;
        returns the s3proxy properties that use it."""
        keystore, password = self.dir / "keystore.p12", "ferry-test-tls"
        self.ca_file = str(self.dir / "ca.pem")
        if not keystore.exists():
            subprocess.run(["keytool", "-genkeypair", "-alias", "s3proxy", "-keyalg", "EC", "-groupname", "secp256r1",
                            "-validity", "30", "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1",
                            "-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password,
                            "-keypass", password], check=True, capture_output=True)
            subprocess.run(["keytool", "-exportcert", "-rfc", "-alias", "s3proxy", "-keystore", str(keystore),
                            "-storepass", password, "-file", self.ca_file], check=True, capture_output=True)
        return f"s3proxy.keystore-path={keystore}\ns3proxy.keystore-password={password}\n"

    def _wait_ready(self, timeout: float) -> bool:
        """True once the server answers HTTP (an anonymous GET / is refused with 403: that is an
        answer); False if the process exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2)
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def create_bucket(self, name: str) -> None:
        (self.data_dir / name).mkdir(exist_ok=True)

    def test_env(self) -> dict[str, str]:
        """The variables src/data/s3_store_test.cc reads."""
        return {
            "FERRY_S3_TEST_ENDPOINT": self.endpoint,
            "FERRY_S3_TEST_BUCKET": self.bucket,
            "FERRY_S3_TEST_ACCESS_KEY": self.access_key,
            "FERRY_S3_TEST_SECRET_KEY": self.secret_key,
            "FERRY_S3_TEST_TLS_ENDPOINT": self.tls_endpoint,
            "FERRY_S3_TEST_CA_FILE": self.ca_file,
        }

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        except ProcessLookupError:
            pass


try:
    import pytest
except ImportError:  # used outside pytest (benchmarks)
    pytest = None

if pytest is not None:
    @pytest.fixture
    def s3proxy_factory(tmp_path):
        """Starts S3Proxy servers on demand (each in its own directory under tmp_path); all are
        stopped at teardown. Fails, naming what is missing, where java or the jar is absent."""
        started: list[S3Proxy] = []

        def start(**kwargs) -> S3Proxy:
            if (why := missing_reason()):
                pytest.fail(why, pytrace=False)
            s3 = S3Proxy(tmp_path / f"s3proxy-{len(started)}", **kwargs)
            started.append(s3)
            s3.start()
            return s3

        yield start
        for s3 in started:
            s3.stop()
