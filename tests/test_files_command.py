"""``python -m chatservice.files gc`` as an operator runs it, beside a running service."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.files_support import FileService, files_under

REPO_ROOT = Path(__file__).resolve().parent.parent


class FilesCommandTests(TestCase):
    """gc collects uploads never attached after the grace, and their bytes; memory: is refused."""

    timeout = 60

    async def command(self, *argv: str, **env: str) -> tuple[int, str, str]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        }
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-m", "chatservice.files", *argv], env=environment
        )
        return code, out.decode(), err.decode()

    async def test_gc_collects_idle_uploads_after_the_grace_only(self) -> None:
        """Within the grace nothing goes; with none, the idle upload and its bytes do."""
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        url = f"sqlite:///{root}/chat.sqlite3"
        chat = await FileService.start(self, database_url=url)
        token, _ = await chat.register("alice")
        status, upload = await chat.upload(token, b"never attached", "idle.txt")
        self.assertEqual(status, 201)
        files = f"{root}/chat.sqlite3-files"
        self.assertEqual(len(files_under(files)), 1)
        code, out, err = await self.command("gc", DATABASE_URL=url)
        self.assertEqual((code, out.strip(), err), (0, "collected 0 uploads and 0 files", ""))
        code, out, err = await self.command("gc", "--grace-hours", "0", DATABASE_URL=url)
        self.assertEqual((code, out.strip()), (0, "collected 1 uploads and 1 files"), err)
        self.assertEqual(files_under(files), [])
        status, _, _ = await chat.request("GET", f"/api/files/{upload['id']}", token)
        self.assertEqual(status, 404)

    async def test_memory_is_refused_in_one_line(self) -> None:
        """A memory: store has no files to collect: exit 1, one line naming the setting."""
        code, out, err = await self.command("gc", DATABASE_URL="memory:")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("DATABASE_URL", err)
