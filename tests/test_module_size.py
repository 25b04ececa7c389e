"""Every module of the package stays under the house limit of 400 lines.

A module that grows past it is telling us it has two jobs (``DESIGN.md``);
this test makes the message impossible to miss, naming every offender with
its length, instead of leaving it to whoever next reads the file.
"""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import chatservice

MAX_LINES = 400
PACKAGE = Path(chatservice.__file__).resolve().parent


def line_count(path: Path) -> int:
    """The number of lines of a text file (its last line counts without a newline)."""
    with path.open(encoding="utf-8") as source:
        return sum(1 for _ in source)


def oversized(package: Path, limit: int) -> list[tuple[str, int]]:
    """Every ``.py`` under ``package`` (recursively) longer than ``limit`` lines, by path."""
    found: list[tuple[str, int]] = []
    for path in sorted(package.rglob("*.py")):
        lines = line_count(path)
        if lines > limit:
            found.append((path.relative_to(package.parent).as_posix(), lines))
    return found


class ModuleSizeTests(SynchronousTestCase):
    """The package's modules are at most ``MAX_LINES`` long."""

    def test_every_module_is_at_most_400_lines(self) -> None:
        """No ``chatservice/**/*.py`` has more than 400 lines; a failure lists each one."""
        offenders = oversized(PACKAGE, MAX_LINES)
        if offenders:
            listing = "\n".join(f"  {path}: {lines} lines" for path, lines in offenders)
            self.fail(
                f"{len(offenders)} module(s) longer than {MAX_LINES} lines; "
                f"split each along one of its seams:\n{listing}"
            )

    def test_the_walk_reaches_sub_packages(self) -> None:
        """The store's modules are measured too, each once, named from the package."""
        measured = [path for path, _ in oversized(PACKAGE, 0)]
        self.assertIn("chatservice/config.py", measured)
        self.assertIn("chatservice/store/__init__.py", measured)
        self.assertEqual(len(measured), len(set(measured)))

    def test_lines_are_counted_as_an_editor_numbers_them(self) -> None:
        """A last line without a newline still counts; an empty file has none."""
        directory = Path(self.mktemp())
        directory.mkdir()
        for text, expected in (("", 0), ("a\n", 1), ("a\nb\n", 2), ("a\nb", 2)):
            path = directory / "module.py"
            path.write_text(text, encoding="utf-8")
            self.assertEqual(line_count(path), expected, repr(text))
