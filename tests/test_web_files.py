"""The web client's files: served at ``/`` from the package, with their headers, at any prefix."""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath
from typing import Any

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.web.files import PAGE_POLICY, WebClient, WebFile, admin_page, package_files
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests
from tests.rest_support import BASE, Reply, RestTestCase

REPO = Path(__file__).resolve().parent.parent
PAGE, ASSETS = package_files()
ADMIN = admin_page()
# The links between the two pages (each relative: "admin" is a sibling of "static/").
PAGE_LINKS = {"admin", "./"}
MODULES = {name: asset for name, asset in ASSETS.items() if name.endswith(".js")}
IMPORT = re.compile(r'^\s*import\b[^;]*?from\s+"([^"]+)"', re.MULTILINE)
HTML_REFERENCE = re.compile(rb'\b(?:src|href)="([^"]+)"')


def package_data() -> dict[str, list[str]]:
    """setup.py's ``package_data`` argument, read without running setup.py."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "package_data":
            value: dict[str, list[str]] = ast.literal_eval(node.value)
            return value
    raise AssertionError("setup.py has no package_data")


def text(file: WebFile) -> str:
    """A file's body as text."""
    return file.body.decode("utf-8")


def code(file: WebFile) -> str:
    """A file's text without its comments (which may name what the code must never do)."""
    without_blocks = re.sub(r"/\*.*?\*/|<!--.*?-->", "", text(file), flags=re.DOTALL)
    return re.sub(r"(?m)(?:^|\s)//.*$", "", without_blocks)


def first_match(pattern: str, source: str) -> str | None:
    """The first line of ``source`` that ``pattern`` matches, for a short failure message."""
    found = re.search(pattern, source)
    if found is None:
        return None
    start = source.rfind("\n", 0, found.start()) + 1
    end = source.find("\n", found.end())
    return source[start : end if end >= 0 else None].strip()


def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as directive -> its sources."""
    parts = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


class PageTests(RestTestCase):
    """``GET /``: the page, with the headers that keep it safe."""

    def test_page_is_html_with_a_strict_policy(self) -> None:
        """The page is UTF-8 HTML whose CSP allows nothing inline and nothing from elsewhere."""
        reply = self.request("GET", "/")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        self.assertTrue(reply.body.startswith(b"<!doctype html>"))
        policy = directives(reply.header("content-security-policy") or "")
        self.assertEqual(policy["default-src"], "'none'")
        for directive in ("script-src", "style-src", "connect-src", "img-src"):
            self.assertEqual(policy[directive], "'self'", directive)
        self.assertEqual(policy["frame-ancestors"], "'none'")
        self.assertEqual(policy["form-action"], "'none'")
        self.assertEqual(policy["base-uri"], "'none'")
        self.assertEqual(policy["require-trusted-types-for"], "'script'")

    def test_page_says_nosniff_no_referrer_and_no_framing(self) -> None:
        """The page carries nosniff, no-referrer, DENY framing and a revalidation policy."""
        reply = self.request("GET", "/")
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")
        self.assertEqual(reply.header("referrer-policy"), "no-referrer")
        self.assertEqual(reply.header("x-frame-options"), "DENY")
        self.assertEqual(reply.header("cache-control"), "no-cache")

    def test_assets_have_their_types(self) -> None:
        """Each asset is served under static/ with its type, nosniff and no CSP of its own."""
        types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
        types[".svg"] = "image/svg+xml"
        for name, asset in ASSETS.items():
            with self.subTest(name=name):
                reply = self.request("GET", f"/static/{name}")
                self.assertEqual(reply.code, 200)
                self.assertEqual(reply.body, asset.body)
                self.assertEqual(reply.header("content-type"), types[name[name.rfind(".") :]])
                self.assertEqual(reply.header("x-content-type-options"), "nosniff")
                self.assertIsNone(reply.header("content-security-policy"))

    def test_a_known_etag_is_answered_304_without_a_body(self) -> None:
        """A browser revalidating with the ETag it holds gets a bodiless 304."""
        etag = self.request("GET", "/static/app.css").header("etag")
        assert etag is not None
        reply = self.request("GET", "/static/app.css", headers={"If-None-Match": etag})
        self.assertEqual((reply.code, reply.body), (304, b""))
        self.assertEqual(reply.header("etag"), etag)
        changed = self.request("GET", "/static/app.css", headers={"If-None-Match": '"other"'})
        self.assertEqual(changed.code, 200)

    def test_head_has_the_length_and_no_body(self) -> None:
        """HEAD / answers with the page's headers and none of its body."""
        reply = self.request("HEAD", "/")
        self.assertEqual((reply.code, reply.body), (200, b""))
        self.assertEqual(reply.header("etag"), PAGE.etag.decode())

    def test_other_methods_are_405_json(self) -> None:
        """POST / is the API's JSON 405, naming GET and HEAD."""
        reply = self.request("POST", "/", data=b"{}")
        self.assertEqual((reply.code, reply.json()["code"]), (405, "method_not_allowed"))
        self.assertEqual(reply.header("allow"), "GET, HEAD")

    def test_an_unknown_asset_is_the_api_404(self) -> None:
        """A path under static/ that is no file is the API's JSON 404, not an HTML page."""
        for path in ("/static/nope.js", "/static/", "/static/../index.html", "/index.html"):
            with self.subTest(path=path):
                reply = self.request("GET", path)
                self.assertEqual((reply.code, reply.json()["code"]), (404, "not_found"))

    def test_the_api_keeps_its_own_headers(self) -> None:
        """Next to the page, the API still answers no-store JSON without the page's CSP."""
        reply = self.request("GET", "/api/openapi.json")
        self.assertEqual(reply.header("cache-control"), "no-store")
        self.assertIsNone(reply.header("content-security-policy"))


class AdminPageTests(RestTestCase):
    """``GET /admin``: the admin panel, a page of its own with the chat page's headers."""

    def test_admin_page_has_the_pages_headers(self) -> None:
        """HTML with the same strict policy, nosniff, no referrer and no framing."""
        reply = self.request("GET", "/admin")
        self.assertEqual((reply.code, reply.body), (200, ADMIN.body))
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual(reply.header("content-security-policy"), PAGE_POLICY.decode())
        self.assertEqual(reply.header("x-frame-options"), "DENY")
        self.assertEqual(reply.header("referrer-policy"), "no-referrer")
        self.assertEqual(reply.header("etag"), ADMIN.etag.decode())
        self.assertEqual(self.request("HEAD", "/admin").body, b"")

    def test_admin_with_a_slash_is_sent_back_to_admin(self) -> None:
        """/admin/ would resolve the page's relative URLs one level down: 301 to ../admin."""
        response = self.successResultOf(
            self.client.request("GET", BASE + "/admin/", allow_redirects=False)
        )
        self.assertEqual(response.code, 301)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"../admin"])
        self.assertEqual(self.request("GET", "/admin/").body, ADMIN.body)  # followed
        for path in ("/admin/x", "/admin.html", "/static/admin"):
            with self.subTest(path=path):
                self.assertEqual(self.request("GET", path).json()["code"], "not_found")

    def test_other_methods_are_405_json(self) -> None:
        """POST /admin is the API's JSON 405 (the admin routes are under /api/admin/)."""
        reply = self.request("POST", "/admin", data=b"{}")
        self.assertEqual((reply.code, reply.json()["code"]), (405, "method_not_allowed"))


class MountedPageTests(SynchronousTestCase):
    """The page when a host Site mounts the service's resource at /chat."""

    def setUp(self) -> None:
        clock = FakeReactor()
        self.chat = ChatService(
            config_for_tests(),
            clock,
            store=MemoryStore(clock),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.chat.startService()
        self.addCleanup(lambda: self.successResultOf(self.chat.stopService()))
        root = Resource()
        root.putChild(b"chat", self.chat.resource())
        self.client: Any = StubTreq(root)

    def get(self, path: str) -> Reply:
        response = self.successResultOf(
            self.client.request("GET", BASE + path, allow_redirects=False)
        )
        return Reply(response.code, response.headers, self.successResultOf(response.content()))

    def test_page_and_assets_are_served_under_the_prefix(self) -> None:
        """/chat/ is the page and /chat/static/... its assets."""
        self.assertEqual(self.get("/chat/").body, PAGE.body)
        self.assertEqual(self.get("/chat/static/js/main.js").body, ASSETS["js/main.js"].body)

    def test_the_admin_page_is_served_under_the_prefix(self) -> None:
        """/chat/admin is the admin panel; /chat/admin/ goes back to it."""
        self.assertEqual(self.get("/chat/admin").body, ADMIN.body)
        self.assertEqual(self.get("/chat/admin/").header("location"), "../admin")

    def test_the_prefix_without_its_slash_is_sent_to_it(self) -> None:
        """/chat redirects to chat/ (relative): the page's relative URLs resolve under /chat/."""
        reply = self.get("/chat")
        self.assertEqual(reply.code, 301)
        self.assertEqual(reply.header("location"), "chat/")


class FileSetTests(SynchronousTestCase):
    """What the package ships: every reference resolves, relative and without HTML sinks."""

    def test_every_reference_of_the_page_is_a_served_asset(self) -> None:
        """The pages' src/href values are relative paths of shipped assets, or the other page."""
        for page in (PAGE, ADMIN):
            for reference in HTML_REFERENCE.findall(page.body):
                path = reference.decode()
                with self.subTest(path=path):
                    if path in PAGE_LINKS:
                        continue
                    self.assertTrue(path.startswith("static/"), "relative, under static/")
                    self.assertIn(path.removeprefix("static/"), ASSETS)

    def test_every_module_import_is_a_served_module(self) -> None:
        """Each relative import of each module names a shipped module (no bundler resolves it)."""
        for name, module in MODULES.items():
            folder = name.rsplit("/", 1)[0]
            for target in IMPORT.findall(text(module)):
                with self.subTest(module=name, imports=target):
                    self.assertTrue(target.startswith("./"), "relative imports only")
                    self.assertIn(f"{folder}/{target.removeprefix('./')}", MODULES)

    def test_no_absolute_urls_and_nothing_from_elsewhere(self) -> None:
        """No file names an absolute path or another origin: any prefix works, and offline."""
        for name, asset in {"index.html": PAGE, "admin.html": ADMIN, **ASSETS}.items():
            if name.endswith(".svg"):
                continue  # its xmlns is a name, not a request
            with self.subTest(name=name):
                self.assertIsNone(first_match(r"""["'`]/(?:api|ws|static)\b""", code(asset)))
                self.assertIsNone(first_match(r"https?://", code(asset)))

    def test_nothing_turns_text_into_html_or_code(self) -> None:
        """No innerHTML-like sink, eval, or inline style or script in any file."""
        sinks = r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
        for name, module in MODULES.items():
            with self.subTest(name=name):
                self.assertIsNone(first_match(sinks, code(module)))
                self.assertIsNone(first_match(r"\.style\b|setAttribute\(\s*[\"']on", code(module)))
        for page, script in ((PAGE, "main.js"), (ADMIN, "admin_main.js")):
            source = code(page)
            self.assertIsNone(first_match(r"\sstyle=|\son[a-z]+=", source))
            self.assertEqual(
                re.findall(r"<script\b[^>]*>", source),
                [f'<script type="module" src="static/js/{script}">'],
            )

    def test_each_module_stays_small(self) -> None:
        """One concern per module: none passes the house limit of ~400 lines."""
        for name, module in MODULES.items():
            with self.subTest(name=name):
                self.assertLessEqual(text(module).count("\n"), 400)

    def test_setup_py_ships_every_file(self) -> None:
        """Each file of chatservice/web/ matches a package_data glob, so a wheel carries it."""
        globs = package_data()["chatservice.web"]
        web = REPO / "chatservice" / "web"
        files = [
            path.relative_to(web)
            for path in web.rglob("*")
            if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
        ]
        self.assertIn(PurePosixPath("index.html"), files)
        self.assertIn(PurePosixPath("admin.html"), files)
        for path in files:
            with self.subTest(path=str(path)):
                self.assertTrue(
                    any(
                        len(path.parts) == len(PurePosixPath(g).parts) and path.match(g)
                        for g in globs
                    ),
                    globs,
                )

    def test_an_unknown_file_type_is_refused_at_load(self) -> None:
        """A file whose type the server cannot name fails loudly instead of going out untyped."""
        self.assertRaises(ValueError, WebFile.of, "notes.txt", b"")

    def test_a_client_of_other_files_serves_them(self) -> None:
        """WebClient serves whatever page and assets it is given (a host may ship its own)."""
        client = WebClient(WebFile.of("index.html", b"<p>"), {"a.css": WebFile.of("a.css", b"")})
        self.assertIsNotNone(client.file_for([b"static", b"a.css"]))
        self.assertIsNone(client.file_for([b"static", b"b.css"]))
        self.assertTrue(client.serves([]))
        self.assertFalse(client.serves([b"api", b"rooms"]))

    def test_the_policy_is_one_line_of_ascii(self) -> None:
        """The CSP header value is plain ASCII with no line break (a header cannot hold one)."""
        self.assertNotIn(b"\n", PAGE_POLICY)
        PAGE_POLICY.decode("ascii")
