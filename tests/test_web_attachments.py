"""Files in the chat page, in a real Chromium: attach, upload, send, and show them safely.

alice attaches a PNG and a text file whose name is HTML, and sends them
with a message; bob's page (phone width) shows the image as a thumbnail
that really loaded, sized before it arrived, linking to the whole file,
and the text file as a download link whose name is its characters. The
signed links work from the page, also when the service is mounted under
a prefix (the server writes them from its own root: the page reads them
as relative to itself). A file over ``MAX_UPLOAD_BYTES``, or past
``UPLOAD_QUOTA_BYTES``, is refused next to the button, not in a dialog;
the button is reached by the keyboard, and a drop or a paste on the
message box attaches files too. axe-core checks the page with files.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from PIL import Image
from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, PHONE, SKIP, ChatPage, in_browser, live_chat
from tests.test_web_a11y import AXE, BLOCKING, summary, violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# A name that would be markup if it were ever parsed as HTML (no "/": the
# server keeps only a path's last component).
HTML_NAME = "<img src=x onerror=alert(1)>.txt"
TEXT = b"hello from a file\n"
PICTURE = "sunset.png"
# What naturalWidth says once the thumbnail has arrived and decoded.
IMAGE_LOADED = """(name) => {
  const image = [...document.querySelectorAll('#messages .attachment-image img')]
    .find((img) => img.alt === name);
  return Boolean(image && image.complete && image.naturalWidth > 0);
}"""

# What a person's drop on the message box, then a paste into it, dispatch.
DROP_AND_PASTE = """() => {
  const files = (name) => {
    const data = new DataTransfer();
    data.items.add(new File([name], name, { type: "text/plain" }));
    return data;
  };
  const box = document.getElementById("composer-input");
  const how = { bubbles: true, cancelable: true };
  const drop = files("dropped.txt");
  box.dispatchEvent(new DragEvent("dragover", { dataTransfer: drop, ...how }));
  box.dispatchEvent(new DragEvent("drop", { dataTransfer: drop, ...how }));
  box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: files("pasted.txt"), ...how }));
}"""


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def png(width: int, height: int) -> bytes:
    """A small PNG of one colour."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (220, 90, 40)).save(out, format="PNG")
    return out.getvalue()


def attach(tab: ChatPage, files: list[tuple[str, str, bytes]]) -> None:
    """Choose files with the page's file input (what the "Attach files" button opens)."""
    payloads = [{"name": name, "mimeType": kind, "buffer": body} for name, kind, body in files]
    tab.page.set_input_files("#attach-input", files=payloads)  # type: ignore[arg-type]


class AttachmentTests(TestCase):
    """Uploads from the composer and attachments in the timeline."""

    skip = SKIP

    async def test_files_reach_the_other_page_as_thumbnail_and_link(self) -> None:
        """A PNG and a text file go with a message; bob sees the image loaded, the name as text."""
        server = await live_chat(self, bcrypt_rounds=4)

        def scenario(browser: Browser) -> dict[str, list[dict[str, Any]]]:
            alice = ChatPage.open(browser, server.url, DESKTOP)
            alice.register("alice")
            bob = ChatPage.open(browser, server.url, PHONE)
            bob.register("bob")
            attach(alice, [(PICTURE, "image/png", png(640, 480)), (HTML_NAME, "text/plain", TEXT)])
            tray = alice.page.locator("#attach-list > li")
            expect(tray).to_have_count(2)
            expect(alice.page.locator("#attach-list > li.ready")).to_have_count(2)
            expect(tray.nth(1).locator(".file-name")).to_have_text(HTML_NAME)
            alice.send("Pictures from the trip")
            expect(tray).to_have_count(0)
            # alice's own copy comes back from the server with its files.
            expect(
                alice.messages("Pictures from the trip").locator(".attachments li")
            ).to_have_count(2)

            message = bob.messages("Pictures from the trip")
            expect(message).to_have_count(1)
            image = message.get_by_role("img", name=PICTURE)
            expect(image).to_be_visible()
            bob.page.wait_for_function(IMAGE_LOADED, arg=PICTURE)
            # Sized before it arrived: 640×480 fitted in 240×240 is 240×180.
            expect(image).to_have_attribute("width", "240")
            expect(image).to_have_attribute("height", "180")
            link = message.locator(".attachment-file")
            expect(link.locator(".file-name")).to_have_text(HTML_NAME)
            expect(link.locator(".file-size")).to_have_text("(18 bytes)")
            # The links are the page's own (relative to it), signed, and work without a token.
            full = message.locator(".attachment-image")
            for anchor in (full, link):
                href = anchor.get_attribute("href") or ""
                self.assertTrue(href.startswith(server.url + "api/files/"), href)
                self.assertIn("sig=", href)
            download = bob.page.request.get(link.get_attribute("href") or "")
            self.assertEqual(download.status, 200)
            self.assertEqual(download.body(), TEXT)
            whole = bob.page.request.get(full.get_attribute("href") or "")
            self.assertEqual(whole.status, 200)
            self.assertEqual(Image.open(io.BytesIO(whole.body())).size, (640, 480))
            # No markup from the name, no sideways scroll at 375 px.
            self.assertEqual(bob.page.locator("#messages img").count(), 1)
            widths = bob.page.evaluate(
                "() => [document.documentElement.scrollWidth, document.body.scrollWidth]"
            )
            self.assertLessEqual(max(widths), PHONE["width"])
            # Files only, no text: the message is its files.
            attach(bob, [("notes.txt", "text/plain", b"just a file")])
            expect(bob.page.locator("#attach-list > li.ready")).to_have_count(1)
            bob.page.get_by_role("button", name="Send").click()
            only_files = alice.page.locator("#messages > li.message").filter(
                has=alice.page.locator(".file-name", has_text="notes.txt")
            )
            expect(only_files).to_have_count(1)
            expect(only_files.locator(".content")).to_have_count(0)
            found: dict[str, list[dict[str, Any]]] = {}
            if AXE:
                attach(alice, [("draft.txt", "text/plain", b"draft")])
                expect(alice.page.locator("#attach-list > li.ready")).to_have_count(1)
                found["chat with files, desktop"] = violations(alice.page)
                found["chat with files, phone"] = violations(bob.page)
            for tab in (alice, bob):
                self.assertEqual(tab.dialogs, [])
                self.assertEqual(tab.errors, [])
            return found

        found = await in_browser(scenario)
        for screen, screen_violations in found.items():
            serious = [v for v in screen_violations if v["impact"] in BLOCKING]
            self.assertEqual(summary(serious), [], screen)

    async def test_thumbnails_load_under_a_prefix(self) -> None:
        """Mounted at /chat/, the server's links ("/api/files/…") still reach the service."""
        server = await live_chat(self, prefix="/chat", bcrypt_rounds=4)

        def scenario(browser: Browser) -> None:
            tab = ChatPage.open(browser, server.url, DESKTOP)
            requests = tab.record_requests()
            tab.register("mounted")
            attach(tab, [(PICTURE, "image/png", png(100, 50))])
            expect(tab.page.locator("#attach-list > li.ready")).to_have_count(1)
            tab.send("A picture under the prefix")
            tab.page.wait_for_function(IMAGE_LOADED, arg=PICTURE)
            image = tab.messages("A picture under the prefix").get_by_role("img", name=PICTURE)
            expect(image).to_have_attribute("width", "100")
            expect(image).to_have_attribute("height", "50")
            self.assertTrue(any("/chat/api/files/" in url for url in requests), requests)
            for url in requests:
                self.assertTrue(url.startswith(server.url), url)
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)

    async def test_refusals_are_shown_next_to_the_button(self) -> None:
        """413s: a sentence under the button naming the file; keyboard, drop and paste work."""
        server = await live_chat(
            self, bcrypt_rounds=4, max_upload_bytes=1024, upload_quota_bytes=1030
        )

        def scenario(browser: Browser) -> None:
            tab = ChatPage.open(browser, server.url, DESKTOP)
            tab.register("hoarder")
            attach(tab, [("big.bin", "application/octet-stream", b"x" * 4096)])
            error = tab.page.locator("#attach-error")
            expect(error).to_have_text("“big.bin” is too large to upload here.")
            expect(tab.page.locator("#attach-list > li")).to_have_count(0)
            # A file under the limit still goes, and choosing clears the old sentence.
            attach(tab, [("small.txt", "text/plain", b"fits")])
            expect(tab.page.locator("#attach-list > li.ready")).to_have_count(1)
            expect(error).to_be_hidden()
            tab.send("The small one")
            expect(tab.messages("The small one").locator(".file-name")).to_have_text("small.txt")
            # The keyboard reaches the button right after Send.
            tab.box.focus()
            tab.page.keyboard.press("Tab")
            expect(tab.page.get_by_role("button", name="Send")).to_be_focused()
            tab.page.keyboard.press("Tab")
            expect(tab.page.get_by_role("button", name="Attach files")).to_be_focused()
            # A file dropped on the message box, and one pasted into it, are attached too.
            tab.page.evaluate(DROP_AND_PASTE)
            ready = tab.page.locator("#attach-list > li.ready .file-name")
            expect(ready).to_have_text(["dropped.txt", "pasted.txt"])
            tab.page.get_by_role("button", name="Remove pasted.txt").click()
            expect(ready).to_have_text(["dropped.txt"])
            expect(tab.page.get_by_role("button", name="Attach files")).to_be_focused()
            tab.box.press("Enter")  # files only: Enter sends them
            sent = tab.page.locator("#messages > li.message .file-name", has_text="dropped.txt")
            expect(sent).to_have_count(1)
            # 25 bytes kept so far (the removed file too, until it is collected): 1020 more
            # fit under MAX_UPLOAD_BYTES but not under the quota.
            attach(tab, [("large.bin", "application/octet-stream", b"y" * 1020)])
            expect(error).to_have_text(
                "“large.bin” does not fit: you have used all the space this server gives you"
                " for files."
            )
            expect(tab.page.locator("#attach-list > li")).to_have_count(0)
            self.assertEqual(tab.dialogs, [])
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)
