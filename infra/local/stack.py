"""Run the real template.yaml in MiniStack, the local AWS emulator.

Starts MiniStack on loopback (in its own virtualenv, with a clean environment,
since its Lambda workers inherit it), builds and deploys the template unchanged
with the SAM CLI, and offers what the demo and the end-to-end tests need:
invoke a function, make a SigV4-signed API call, read the mail and SMS that
MiniStack recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
MINISTACK_PYTHON = ROOT / ".venv-ministack" / "bin" / "python"
TOOLS_BIN = ROOT / ".venv-tools" / "bin"
SAMTX = LOCAL / "samtx"
LAUNCHER = Path(__file__).with_name("ministack_launch.py")

REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "test", "test"  # MiniStack's local credentials, not secrets
STACK_NAME = "replywatch-local"
ALERT_SENDER = "alerts@replywatch.local"


class StackError(RuntimeError):
    pass


def wait_for[T](check: Callable[[], T | None], *, timeout: float, interval: float = 0.5, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(interval)


@dataclass
class LocalStack:
    port: int = int(os.environ.get("MINISTACK_PORT", "4566"))
    stack_name: str = STACK_NAME
    outputs: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        return LOCAL / f"ministack-{self.port}"

    # --- AWS clients against the emulator --------------------------------------------

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(read_timeout=330, retries={"max_attempts": 1}),
        )

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if not MINISTACK_PYTHON.exists():
            raise StackError("MiniStack's virtualenv is missing: run `make demo` or `make test`")
        if self._healthy():
            raise StackError(f"something already answers on port {self.port}; set MINISTACK_PORT to another port")
        shutil.rmtree(self.workdir, ignore_errors=True)
        (self.workdir / "tmp").mkdir(parents=True)
        env = {
            # MiniStack's Lambda workers inherit this environment: keep it to what they need.
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.workdir / "tmp"),
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PERSIST_STATE": "0",
            "STATE_DIR": str(self.workdir / "state"),
            "S3_DATA_DIR": str(self.workdir / "s3"),
            "MINISTACK_SAMTX": str(SAMTX),
        }
        log = (self.workdir / "ministack.log").open("wb")
        self._process = subprocess.Popen(
            [str(MINISTACK_PYTHON), str(LAUNCHER)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: self._healthy() or self._died(), timeout=60, what="MiniStack to start")
        if self._process.poll() is not None:
            raise StackError(f"MiniStack exited; see {self.workdir / 'ministack.log'}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_ministack/health", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _died(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None

    def deploy(self, parameters: dict[str, str] | None = None) -> dict[str, str]:
        """`sam build` and `sam deploy` of template.yaml, unchanged, into MiniStack."""
        overrides = {"Architecture": "x86_64", "AlertSender": ALERT_SENDER, **(parameters or {})}
        env = {
            **os.environ,
            **self.aws_env(),
            "SAM_CLI_TELEMETRY": "0",
            "PATH": f"{TOOLS_BIN}:{os.environ.get('PATH', '')}",
        }
        env.pop("VIRTUAL_ENV", None)
        override_args = ["--parameter-overrides", *(f"{key}={value}" for key, value in overrides.items())]
        sam = str(TOOLS_BIN / "sam")
        self._run([sam, "build", "--cached", *override_args], env)
        self._run(
            [
                sam,
                "deploy",
                "--stack-name",
                self.stack_name,
                "--resolve-s3",
                "--region",
                REGION,
                "--no-confirm-changeset",
                "--no-fail-on-empty-changeset",
                "--no-progressbar",
                "--capabilities",
                "CAPABILITY_IAM",
                "CAPABILITY_AUTO_EXPAND",
                *override_args,
            ],
            env,
        )
        stack = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        self.outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
        self.client("sesv2").create_email_identity(EmailIdentity=overrides["AlertSender"])
        return self.outputs

    def _run(self, argv: list[str], env: dict[str, str]) -> None:
        log = self.workdir / "sam.log"
        with log.open("ab") as out:
            result = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise StackError(f"{' '.join(argv[:2])} failed (exit {result.returncode}):\n{tail}")

    # --- using the stack --------------------------------------------------------------

    def invoke(self, output_key: str, payload: dict[str, Any] | None = None) -> Any:
        response = self.client("lambda").invoke(
            FunctionName=self.outputs[output_key], Payload=json.dumps(payload or {}).encode()
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise StackError(f"{output_key} failed: {body}")
        return body

    def api_url(self, path: str) -> str:
        return f"{self.endpoint}/_aws/execute-api/{self.outputs['ApiId']}/v1{path}"

    def api_get(self, path: str, *, sign: bool = True) -> tuple[int, Any]:
        """GET an API route, SigV4-signed as an IAM caller would."""
        status, body = self.api_request("GET", path, sign=sign)
        try:
            return status, json.loads(body or b"null")
        except ValueError:
            return status, body.decode(errors="replace")

    def api_request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, sign: bool
    ) -> tuple[int, bytes]:
        """Any API route; ``sign`` as an IAM caller, or not (the public webhook routes)."""
        url = self.api_url(path)
        headers = {"Accept": "application/json", **(headers or {})}
        if sign:
            request = AWSRequest(method=method, url=url, data=body, headers=headers)
            SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", REGION).add_auth(request)
            headers = dict(request.headers.items())
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, data=body, headers=headers, method=method), timeout=60
            ) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _admin(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.endpoint}/_ministack/{path}", timeout=10) as response:
            return json.loads(response.read())

    def emails(self) -> list[dict[str, Any]]:
        """Mail sent through SES: To, Subject, BodyText, BodyHtml, ..."""
        by_account = self._admin("ses/messages").get("messages", {})
        return [message for messages in by_account.values() for message in messages]

    def sms(self) -> list[dict[str, Any]]:
        """SMS published through SNS: PhoneNumber, Message, ..."""
        by_number = self._admin("sns/sms-messages").get("sms_messages", {})
        return [message for messages in by_number.values() for message in messages]


@contextmanager
def running_stack(parameters: dict[str, str] | None = None, **kwargs: Any) -> Iterator[LocalStack]:
    stack = LocalStack(**kwargs)
    stack.start()
    try:
        stack.deploy(parameters)
        yield stack
    finally:
        stack.stop()
