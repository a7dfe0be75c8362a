"""The embedded SMTP trap (in place of MailHog): our aiosmtpd module, run in the background."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from lomash_tasks import CHECKOUT_DIR
from lomash_tasks.errors import UserError
from lomash_tasks.stack.base import PORT_KEYS
from lomash_tasks.stack.embedded.process import Part


class SmtpPart(Part):
    name = "smtp"
    marker = "smtp_trap"

    @property
    def mail_dir(self) -> Path:
        return self.dir / "mail"

    def ports(self) -> list[tuple[int, str]]:
        return super().ports() + [(self.ws.registry.smtp.web_port, PORT_KEYS["smtp_web"])]

    def check(self) -> None:
        if importlib.util.find_spec("aiosmtpd") is None:
            raise UserError(
                "The embedded SMTP trap needs the Python package aiosmtpd: "
                "`pip install -e '.[embedded]'` (aiosmtpd==1.4.6)."
            )

    def prepare(self) -> list[str]:
        self.check()
        from importlib.metadata import version

        self.ws.ensure_state_dir()
        self.dir.mkdir(exist_ok=True, mode=0o700)
        self.mail_dir.mkdir(exist_ok=True, mode=0o700)
        self.version_file.write_text(f"aiosmtpd {version('aiosmtpd')} (mail trap)\n")
        return []

    def spawn(self) -> None:
        smtp = self.ws.registry.smtp
        self._spawn(
            [
                sys.executable,
                "-m",
                "lomash_tasks.stack.smtp_trap",
                "--host",
                smtp.host,
                "--port",
                str(smtp.port),
                "--web-port",
                str(smtp.web_port),
                "--dir",
                str(self.mail_dir),
            ],
            env={"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(CHECKOUT_DIR)},
        )
