"""The embedded AWS endpoint: moto's server (S3, SQS, SES, Secrets Manager) on one port.

Run through our `aws_endpoint` module: moto's own application, warmed up before it listens.
"""

from __future__ import annotations

import importlib.util
import sys

from lomash_tasks import CHECKOUT_DIR
from lomash_tasks.errors import UserError
from lomash_tasks.stack.embedded.process import Part

INSTALL_HINT = (
    "Install the suite's embedded extra: `pip install -e '.[embedded]'` "
    "(it brings moto[server]==5.2.1)."
)


class AwsPart(Part):
    name = "aws"
    marker = "aws_endpoint"

    def check(self) -> None:
        for module in ("moto", "flask", "werkzeug"):
            if importlib.util.find_spec(module) is None:
                raise UserError(
                    f"The embedded AWS endpoint needs moto's server, but the Python "
                    f"package '{module}' is not installed. {INSTALL_HINT}"
                )

    def prepare(self) -> list[str]:
        self.check()
        from importlib.metadata import version

        self.ws.ensure_state_dir()
        self.dir.mkdir(exist_ok=True, mode=0o700)
        self.version_file.write_text(f"moto {version('moto')}\n")
        return []

    def spawn(self) -> None:
        ep = self.endpoint
        self._spawn(
            [
                sys.executable,
                "-m",
                "lomash_tasks.stack.aws_endpoint",
                "--host",
                ep.host,
                "--port",
                str(ep.port),
            ],
            env={"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(CHECKOUT_DIR)},
        )
