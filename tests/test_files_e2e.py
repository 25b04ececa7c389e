"""Files end to end over real TCP: upload, attach, receive, download, ranges, thumbnail, delete.

Once on SQLite with the files in a local directory, once on PostgreSQL
with the files in the database (``CHAT_TEST_POSTGRES``).
"""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import quote

from PIL import Image
from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from chatservice.files import collect
from chatservice.store.sql import SQLStore
from tests.files_support import FileService, files_under, jpeg_with_gps
from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase
from tests.wsclient import join_tcp

NOTE = b"meeting notes\nline two\n" * 40


class FilesEndToEndMixin:
    """The whole life of two attachments; subclasses say where the store and files live."""

    timeout = 60

    async def start(self) -> FileService:
        raise NotImplementedError

    async def stored_blobs(self, chat: FileService) -> int:
        """How many blobs' bytes the files backend holds."""
        raise NotImplementedError

    async def test_upload_attach_receive_download_thumbnail_delete(self) -> None:
        """Two files ride on a message to another socket, download safely, and go with it."""
        test: Any = self
        chat = await self.start()
        alice, _ = await chat.register("alice")
        bob, _ = await chat.register("bob")
        bob_socket = await join_tcp(test, reactor, chat.port, bob)
        alice_socket = await join_tcp(test, reactor, chat.port, alice)

        photo = jpeg_with_gps()
        status, image = await chat.upload(alice, photo, "holiday.jpg", "image/jpeg")
        test.assertEqual(status, 201, image)
        test.assertEqual(
            (image["content_type"], image["width"], image["height"], image["size"]),
            ("image/jpeg", 640, 480, len(photo)),
        )
        boundary = "----chat-boundary"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n'
            ).encode()
            + NOTE
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, _, raw = await chat.request(
            "POST",
            "/api/uploads",
            alice,
            form,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        test.assertEqual(status, 201, raw)
        import json

        note = json.loads(raw)
        test.assertEqual((note["name"], note["size"]), ("notes.txt", len(NOTE)))
        test.assertNotIn("thumbnail_url", note)

        alice_socket.send_json({"content": "look", "attachments": [image["id"], note["id"]]})
        received = await bob_socket.next_of("message")
        await alice_socket.next_of("message")
        files = received["attachments"]
        test.assertEqual([f["id"] for f in files], [image["id"], note["id"]])
        test.assertEqual(files[0]["name"], "holiday.jpg")
        test.assertEqual(files[1]["content_type"], "text/plain; charset=utf-8")
        url, thumb_url = files[0]["url"], files[0]["thumbnail_url"]
        test.assertNotIn("token", url)

        # Whole, with no token: the signed link is enough.
        status, headers, body = await chat.request("GET", url)
        test.assertEqual((status, body), (200, photo))
        test.assertEqual(headers["content-type"], "image/jpeg")
        test.assertTrue(headers["content-disposition"].startswith("inline;"))
        test.assertEqual(headers["x-content-type-options"], "nosniff")
        test.assertIn("sandbox", headers["content-security-policy"])
        etag = headers["etag"]
        # A range, an unsatisfiable one, and a revalidation.
        status, headers, body = await chat.request("GET", url, headers={"Range": "bytes=10-99"})
        test.assertEqual((status, body), (206, photo[10:100]))
        test.assertEqual(headers["content-range"], f"bytes 10-99/{len(photo)}")
        status, headers, _ = await chat.request(
            "GET", url, headers={"Range": f"bytes={len(photo)}-"}
        )
        test.assertEqual((status, headers["content-range"]), (416, f"bytes */{len(photo)}"))
        status, _, body = await chat.request("GET", url, headers={"If-None-Match": etag})
        test.assertEqual((status, body), (304, b""))
        # The text file downloads as an attachment, by token too.
        status, headers, body = await chat.request("GET", f"/api/files/{note['id']}", bob)
        test.assertEqual((status, body), (200, NOTE))
        test.assertTrue(headers["content-disposition"].startswith("attachment;"))

        # The thumbnail: small, and without the photo's GPS position.
        status, headers, body = await chat.request("GET", thumb_url)
        test.assertEqual(status, 200)
        thumbnail = Image.open(io.BytesIO(body))
        test.assertLessEqual(max(thumbnail.size), 320)
        test.assertEqual(dict(thumbnail.getexif()), {})
        test.assertTrue(Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825))
        test.assertFalse(b"Exif" in body)

        # History serves the message with links signed again.
        status, history = await chat.json("GET", "/api/messages?roomId=1", bob)
        test.assertEqual(status, 200)
        test.assertEqual(len(history[-1]["attachments"]), 2)

        # Deleting the message takes its files: the links answer 404, gc removes the bytes.
        status, _ = await chat.json("DELETE", f"/api/messages/{received['id']}", alice)
        test.assertEqual(status, 200)
        updated = await bob_socket.next_of("message_updated")
        test.assertNotIn("attachments", updated["message"])
        status, _, _ = await chat.request("GET", url)
        test.assertEqual(status, 404)
        test.assertEqual(await self.stored_blobs(chat), 3)  # photo, thumbnail, notes
        uploads, blobs = await collect(chat.service.files._store, chat.service.files.blobs, 0)
        test.assertEqual((uploads, blobs), (0, 3))
        test.assertEqual(await self.stored_blobs(chat), 0)

    async def test_private_room_files_are_404_to_others(self) -> None:
        """A non-member's token gets the room's 404 for its file; its uploader gets the file."""
        test: Any = self
        chat = await self.start()
        alice, _ = await chat.register("alice")
        carol, _ = await chat.register("carol")
        status, room = await chat.json(
            "POST", "/api/rooms", alice, {"name": "secret", "visibility": "private"}
        )
        test.assertEqual(status, 201, room)
        status, upload = await chat.upload(alice, b"top secret", "plan.txt", "text/plain")
        status, message = await chat.json(
            "POST",
            "/api/messages",
            alice,
            {"room_id": room["id"], "content": "", "attachments": [upload["id"]]},
        )
        test.assertEqual(status, 201, message)
        path = f"/api/files/{upload['id']}"
        test.assertEqual((await chat.request("GET", path, alice))[0], 200)
        test.assertEqual((await chat.request("GET", path, carol))[0], 404)
        test.assertEqual((await chat.request("GET", path))[0], 401)
        forged = f"{path}?expires=9999999999&sig={'0' * 32}"
        test.assertEqual((await chat.request("GET", forged))[0], 403)
        # Carol cannot attach alice's upload either.
        post = {"room_id": 1, "content": "x", "attachments": [upload["id"]]}
        status, body = await chat.json("POST", "/api/messages", carol, post)
        test.assertEqual((status, body["code"]), (400, "invalid_request"))


class SQLiteLocalFilesTests(FilesEndToEndMixin, TestCase):
    """SQLite, files in ``<database>-files``."""

    async def start(self) -> FileService:
        path = os.path.abspath(self.mktemp())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.files_dir = path + "-files"
        return await FileService.start(self, database_url=f"sqlite:///{path}")

    async def stored_blobs(self, chat: FileService) -> int:
        return len(files_under(self.files_dir))


class PostgreSQLDatabaseFilesTests(PostgreSQLDatabase, FilesEndToEndMixin, TestCase):
    """PostgreSQL, files as chunk rows of the database."""

    skip = SKIP

    async def start(self) -> FileService:
        store = self.build_store()
        separator = "&" if "?" in DSN else "?"
        url = f"{DSN}{separator}options={quote(self.search_path)}"
        chat = await FileService.start(self, database_url=url, store=store)
        assert isinstance(chat.service.store, SQLStore)
        return chat

    async def stored_blobs(self, chat: FileService) -> int:
        rows = self.admin("SELECT COUNT(DISTINCT sha256) FROM file_chunks")
        return int(rows[0][0])
