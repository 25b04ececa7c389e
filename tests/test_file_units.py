"""The sans-I/O pieces of files: forms, names, sniffing, ranges, headers, links, multipart."""

from __future__ import annotations

import io
import json
import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.errors import InvalidRequest, PayloadTooLarge
from chatservice.file_links import BUCKET_SECONDS, THUMBNAIL, LinkSigner, derive_key
from chatservice.file_serving import content_disposition, parse_range
from chatservice.frames import parse_client_frame
from chatservice.message_forms import parse_post
from chatservice.rest_files import multipart_boundary
from chatservice.sniff import OCTET_STREAM, TEXT, sniff
from chatservice.upload_body import clean_name, stage
from chatservice.wire import FrameError
from tests.files_support import png_bytes


class AttachmentFormTests(SynchronousTestCase):
    """``attachments`` on a post and a frame: 1-10 distinct ids; content may then be empty."""

    def test_a_post_with_files_may_have_no_content(self) -> None:
        """Empty or absent content is fine with attachments, refused without."""
        form = parse_post(json.dumps({"room_id": 1, "attachments": [3, 4]}).encode(), 100)
        self.assertEqual((form.content, form.attachments), ("", (3, 4)))
        self.assertRaises(InvalidRequest, parse_post, b'{"room_id": 1, "content": " "}', 100)
        frame = parse_client_frame('{"content": "", "attachments": [9]}', 100)
        self.assertEqual((frame.content, frame.attachments), ("", (9,)))
        self.assertEqual(parse_client_frame('{"content": "x"}', 100).attachments, ())

    def test_bad_attachment_lists_are_invalid(self) -> None:
        """Not a list, too many, repeated, not ids: invalid_request (an error frame on sockets)."""
        for bad in ("3", "[0]", "[true]", "[1.5]", "[1, 1]", json.dumps(list(range(1, 12)))):
            body = f'{{"room_id": 1, "content": "x", "attachments": {bad}}}'.encode()
            self.assertRaises(InvalidRequest, parse_post, body, 100)
            frame = f'{{"content": "x", "attachments": {bad}}}'
            self.assertRaises(FrameError, parse_client_frame, frame, 100)


class NameAndTypeTests(SynchronousTestCase):
    """Names lose their paths and controls; types come from the bytes."""

    def test_names(self) -> None:
        """Paths, controls and bidi overrides go; nothing left is 'file'."""
        self.assertEqual(clean_name("../../etc/passwd"), "passwd")
        self.assertEqual(clean_name("C:\\x\\y.txt"), "y.txt")
        self.assertEqual(clean_name("a\x00b\x1b\u202ec.txt"), "abc.txt")
        for empty in (None, "", "..", ".", "dir/", "\x00"):
            self.assertEqual(clean_name(empty), "file")
        self.assertEqual(len(clean_name("n" * 1000)), 255)

    def test_sniffing(self) -> None:
        """Magic numbers decide; a claim never does."""
        self.assertEqual(sniff(png_bytes()[:512]), "image/png")
        self.assertEqual(sniff(b"\xff\xd8\xff\xe0rest"), "image/jpeg")
        self.assertEqual(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp")
        self.assertEqual(sniff(b"<html><script>"), TEXT)
        self.assertEqual(sniff("é".encode() * 100 + b"\xc3"), TEXT)  # a cut last character
        self.assertEqual(sniff(b"\x00\x01binary"), OCTET_STREAM)
        self.assertEqual(sniff(b""), OCTET_STREAM)


class ServingHeaderTests(SynchronousTestCase):
    """Ranges and Content-Disposition."""

    def test_ranges(self) -> None:
        """One satisfiable range, the whole file for what is ignored, False past the end."""
        self.assertEqual(parse_range(b"bytes=0-9", 100), (0, 9))
        self.assertEqual(parse_range(b"bytes=90-", 100), (90, 99))
        self.assertEqual(parse_range(b"bytes=-10", 100), (90, 99))
        self.assertEqual(parse_range(b"bytes=50-1000", 100), (50, 99))
        self.assertIsNone(parse_range(None, 100))
        self.assertIsNone(parse_range(b"bytes=0-1,5-6", 100))
        self.assertIsNone(parse_range(b"items=0-1", 100))
        self.assertIsNone(parse_range(b"bytes=9-1", 100))
        self.assertFalse(parse_range(b"bytes=100-", 100))
        self.assertFalse(parse_range(b"bytes=-0", 100))

    def test_disposition_is_ascii_with_the_name_encoded(self) -> None:
        """The name goes in filename* percent-encoded; the fallback has no quotes or controls."""
        value = content_disposition('a"b;ç.txt', inline=False).decode("ascii")
        self.assertTrue(value.startswith('attachment; filename="a_b_'))
        self.assertIn("filename*=UTF-8''a%22b%3B%C3%A7.txt", value)
        self.assertTrue(content_disposition("x.png", inline=True).startswith(b"inline;"))


class LinkTests(SynchronousTestCase):
    """Signed links: per file and variant, the same for everyone within a bucket, then expired."""

    def test_links(self) -> None:
        """A link checks until it expires; another file, variant or key does not."""
        clock = Clock()
        clock.advance(10 * BUCKET_SECONDS + 5)
        signer = LinkSigner(derive_key("s" * 32), clock)
        url = signer.url(7)
        clock.advance(60)
        self.assertEqual(signer.url(7), url)  # same bucket: same bytes for every frame
        query = dict(pair.split("=") for pair in url.split("?")[1].split("&"))
        expires, sig = int(query["expires"]), query["sig"]
        self.assertTrue(signer.check(7, "file", expires, sig))
        self.assertFalse(signer.check(8, "file", expires, sig))
        self.assertFalse(signer.check(7, THUMBNAIL, expires, sig))
        self.assertFalse(LinkSigner(derive_key("t" * 32), clock).check(7, "file", expires, sig))
        clock.advance(2 * BUCKET_SECONDS)
        self.assertFalse(signer.check(7, "file", expires, sig))
        self.assertNotEqual(derive_key("s" * 32), ("s" * 32).encode())


class MultipartTests(SynchronousTestCase):
    """The boundary is read from the header; the file part is copied out block by block."""

    def test_boundary(self) -> None:
        """A raw body has none; multipart needs a sane one."""
        self.assertIsNone(multipart_boundary(None))
        self.assertIsNone(multipart_boundary(b"image/png"))
        self.assertEqual(multipart_boundary(b'multipart/form-data; boundary="ab c"'), "ab c")
        self.assertRaises(InvalidRequest, multipart_boundary, b"multipart/form-data")

    def stage_form(self, body: bytes, limit: int = 10**6) -> tuple[bytes, str | None]:
        staged = stage(io.BytesIO(body), "XX", limit)
        try:
            with open(staged.path, "rb") as src:
                return src.read(), staged.name
        finally:
            os.unlink(staged.path)

    def test_the_file_part_is_taken(self) -> None:
        """Other fields are skipped; the file's bytes and name come out."""
        data = os.urandom(200_000)
        body = (
            b'--XX\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\n\r\n'
            + data
            + b"\r\n--XX--\r\n"
        )
        self.assertEqual(self.stage_form(body), (data, "r.bin"))

    def test_bad_forms(self) -> None:
        """No file part, garbage, or a part over the limit: a clear error, no file left."""
        no_file = b'--XX\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--XX--\r\n'
        self.assertRaises(InvalidRequest, self.stage_form, no_file)
        self.assertRaises(InvalidRequest, self.stage_form, b"garbage without boundaries")
        big = (
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\n'
            + b"x" * 5000
            + b"\r\n--XX--\r\n"
        )
        self.assertRaises(PayloadTooLarge, self.stage_form, big, 4000)
