"""docs/protocol.md, the OpenAPI document and the error classes tell one story.

The protocol page is for people, but three of its tables are data: routes
with their statuses, error codes with their statuses, and settings. Each is
compared with what the code declares: the OpenAPI document (built from each
route's error classes), ``errors.all_error_classes()`` and
``settings.SETTINGS``. A route, status, code or setting added on one side only
fails here, and the message says which.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import chatservice.errors
from chatservice.errors import ChatError, all_error_classes
from chatservice.openapi import DOCUMENT, ROUTE_ERRORS, WEBSOCKET_ROUTES
from chatservice.settings import SETTINGS

PROTOCOL_MD = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# A WebSocket handshake that succeeds switches protocols.
SWITCHING_PROTOCOLS = "101"

Table = list[dict[str, str]]


def tables(markdown: str) -> Iterator[Table]:
    """Every pipe table of a Markdown text, as rows keyed by lower-cased header.

    Cells lose their surrounding backticks, so a table may show ``code`` as
    code and still be read as data.
    """
    lines = markdown.splitlines()
    for index, line in enumerate(lines[:-1]):
        first = index == 0 or not lines[index - 1].strip().startswith("|")
        separator = re.fullmatch(r"\|[-:| ]+\|", lines[index + 1].strip())
        if not (first and line.strip().startswith("|") and separator):
            continue
        header = [cell.lower() for cell in _cells(line)]
        rows = []
        for row in lines[index + 2 :]:
            if not row.strip().startswith("|"):
                break
            rows.append(dict(zip(header, _cells(row), strict=False)))
        yield rows


def _cells(line: str) -> list[str]:
    # A pipe escaped as \| (inside a cell's text) does not split cells.
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [part.strip().replace("\\|", "|").strip("`") for part in parts]


def table_with(markdown: str, *columns: str) -> Table:
    """The one table whose header has all of ``columns``."""
    found = [t for t in tables(markdown) if t and set(columns) <= set(t[0])]
    if len(found) != 1:
        raise AssertionError(f"expected one table with columns {columns}, found {len(found)}")
    return found[0]


def documented_routes(markdown: str) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> statuses, from the route table."""
    routes: dict[tuple[str, str], set[str]] = {}
    for row in table_with(markdown, "method", "path", "statuses"):
        key = (row["method"].upper(), row["path"])
        if key in routes:
            raise AssertionError(f"route {key} is listed twice")
        routes[key] = {s.strip() for s in row["statuses"].split(",") if s.strip()}
    return routes


def documented_codes(markdown: str) -> dict[str, int]:
    """The error-code table, as code -> status."""
    codes: dict[str, int] = {}
    for row in table_with(markdown, "code", "status", "meaning"):
        if row["code"] in codes:
            raise AssertionError(f"error code {row['code']!r} is listed twice")
        codes[row["code"]] = int(row["status"])
    return codes


def documented_settings(markdown: str) -> set[str]:
    """Environment variables of the settings table (``—`` marks an option only)."""
    rows = table_with(markdown, "variable", "option", "default")
    return {row["variable"] for row in rows if row["variable"] not in ("—", "-")}


def declared_routes(
    document: Mapping[str, Any], route_errors: Mapping[tuple[str, str], Iterable[type[ChatError]]]
) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> statuses the code declares.

    REST routes: the responses of their OpenAPI operation. WebSocket routes
    (not operations of the document): 101 and the statuses of their
    declared errors.
    """
    routes = {
        (method.upper(), path): set(operation["responses"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    for route in WEBSOCKET_ROUTES:
        statuses = {str(cls.status) for cls in route_errors[route]}
        routes[route] = {SWITCHING_PROTOCOLS, *statuses}
    return routes


def raised() -> dict[str, int]:
    """Code -> status of every error class the service can answer with."""
    return {cls.code: cls.status for cls in all_error_classes()}


def disagreements(
    markdown: str,
    document: Mapping[str, Any],
    codes_in_code: Mapping[str, int],
    route_errors: Mapping[tuple[str, str], Iterable[type[ChatError]]] = ROUTE_ERRORS,
) -> list[str]:
    """Every way the page and the code disagree, as sentences (empty: none).

    ``codes_in_code`` is code -> status of the error classes (see ``raised``).
    """
    routes = compared(
        documented_routes(markdown),
        declared_routes(document, route_errors),
        lambda route: f"route {route}",
        only_in_code="is served but not in docs/protocol.md",
        only_in_doc="is in docs/protocol.md but not served",
        show=sorted,
    )
    codes = compared(
        documented_codes(markdown),
        codes_in_code,
        lambda code: f"error code {code!r}",
        only_in_code="is raised but not in docs/protocol.md",
        only_in_doc="is in docs/protocol.md but no class has it",
    )
    return routes + codes


def compared(
    in_doc: Mapping[Any, Any],
    in_code: Mapping[Any, Any],
    name: Callable[[Any], str],
    *,
    only_in_code: str,
    only_in_doc: str,
    show: Callable[[Any], Any] = lambda value: value,
) -> list[str]:
    """Sentences for keys only the code has, keys only the page has, and values that differ."""
    problems = [f"{name(key)} {only_in_code}" for key in sorted(in_code.keys() - in_doc.keys())]
    problems += [f"{name(key)} {only_in_doc}" for key in sorted(in_doc.keys() - in_code.keys())]
    problems += [
        f"{name(key)}: docs/protocol.md says {show(in_doc[key])}, the code {show(in_code[key])}"
        for key in sorted(in_doc.keys() & in_code.keys())
        if in_doc[key] != in_code[key]
    ]
    return problems


class ProtocolDocTests(SynchronousTestCase):
    """docs/protocol.md agrees with the OpenAPI document, the errors and the settings."""

    def setUp(self) -> None:
        self.markdown = PROTOCOL_MD.read_text(encoding="utf-8")

    def test_routes_codes_and_statuses_agree_with_the_code(self) -> None:
        """Every route with its statuses, and every error code with its status, on both sides."""
        self.assertEqual(disagreements(self.markdown, DOCUMENT, raised()), [])

    def test_every_setting_is_documented(self) -> None:
        """Each environment variable of settings.SETTINGS has a row, and no other does."""
        self.assertEqual(documented_settings(self.markdown), {s.env for s in SETTINGS})

    def new_problems(
        self, document: Mapping[str, Any], codes: Mapping[str, int], markdown: str = ""
    ) -> list[str]:
        """The disagreements a change makes, beyond any the unchanged sides already have."""
        before = set(disagreements(self.markdown, DOCUMENT, raised()))
        after = disagreements(markdown or self.markdown, document, codes)
        return [problem for problem in after if problem not in before]

    def test_a_new_error_class_without_a_row_is_caught(self) -> None:
        """An error code the page does not list is reported by name."""
        # As a code -> status entry, not a class: a ChatError subclass made
        # here would stay in ``__subclasses__`` for the tests that follow.
        problems = self.new_problems(DOCUMENT, {**raised(), "teapot": 418})
        self.assertEqual(problems, ["error code 'teapot' is raised but not in docs/protocol.md"])

    def test_a_new_route_without_a_row_is_caught(self) -> None:
        """A served route the page does not list is reported."""
        document = copy.deepcopy(DOCUMENT)
        document["paths"]["/api/teapot"] = {"get": {"responses": {"200": {}}}}
        problems = self.new_problems(document, raised())
        self.assertEqual(
            problems, ["route ('GET', '/api/teapot') is served but not in docs/protocol.md"]
        )

    def test_a_new_status_of_a_route_is_caught(self) -> None:
        """A status a route gains without its row changing is reported."""
        document = copy.deepcopy(DOCUMENT)
        document["paths"]["/api/rooms"]["get"]["responses"]["418"] = {}
        problems = self.new_problems(document, raised())
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("route ('GET', '/api/rooms'): docs/protocol.md says", problems[0])
        self.assertIn("'418'", problems[0])

    def test_a_status_the_page_changes_is_caught(self) -> None:
        """A code documented with another status than its class has is reported."""
        markdown = self.markdown.replace("| `conflict` | 409 |", "| `conflict` | 400 |")
        problems = self.new_problems(DOCUMENT, raised(), markdown)
        self.assertEqual(
            problems, ["error code 'conflict': docs/protocol.md says 400, the code 409"]
        )


class ErrorClassTests(SynchronousTestCase):
    """The error classes are a list the documents can be built from."""

    def test_each_code_is_one_class(self) -> None:
        """No two listed classes share a code (one code, one status, one meaning)."""
        codes = [cls.code for cls in all_error_classes()]
        self.assertEqual(sorted(codes), sorted(set(codes)))

    def test_every_error_class_of_errors_py_has_its_own_code(self) -> None:
        """A class added to errors.py without a ``code`` of its own would hide in its parent's."""
        defined = [
            value
            for value in vars(chatservice.errors).values()
            if isinstance(value, type)
            and issubclass(value, ChatError)
            and value is not ChatError
            and value.__module__ == chatservice.errors.__name__
        ]
        self.assertEqual(set(defined), set(all_error_classes()) & set(defined))

    def test_codes_live_in_errors_py(self) -> None:
        """Every class with a code of its own is in errors.py, so importing it lists them all."""
        for cls in all_error_classes():
            self.assertEqual(cls.__module__, chatservice.errors.__name__, cls)

    def test_every_code_has_a_meaning_and_a_client_status(self) -> None:
        """Each class says what it means (its docstring) and answers a 4xx or 5xx."""
        for cls in all_error_classes():
            self.assertTrue(cls.meaning(), cls)
            self.assertTrue(400 <= cls.status <= 599, cls)

    def test_wrappers_are_not_codes(self) -> None:
        """``wire.FrameError`` carries another error's code, so it is not listed."""
        from chatservice.wire import FrameError

        self.assertNotIn(FrameError, all_error_classes())

    def test_every_declared_route_error_is_a_listed_class(self) -> None:
        """The per-route declarations name only listed classes."""
        listed = set(all_error_classes())
        for route, classes in ROUTE_ERRORS.items():
            self.assertLessEqual(set(classes), listed, route)
