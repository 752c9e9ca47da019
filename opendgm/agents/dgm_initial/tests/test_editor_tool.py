"""The editor views, creates and rewrites whole files; every refusal is an `Error: ...` answer."""

from __future__ import annotations

import os
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the agent's folder: `agent`, `tools`

from helpers import scratch
from tools import editor


class EditorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = scratch(self)
        self.file = self.root / "pkg" / "mod.py"

    def edit(self, command: str, path: Path | str, file_text: str | None = None) -> str:
        return editor.run(command=command, path=str(path), file_text=file_text)

    def test_create_view_and_overwrite(self) -> None:
        self.assertIn("Created", self.edit("create", self.file, "a = 1\nb = 2\n"))
        self.assertEqual(self.edit("view", self.file), "     1\ta = 1\n     2\tb = 2")
        self.assertIn("Replaced", self.edit("edit", self.file, "c = 3\n"))
        self.assertEqual(self.file.read_text(), "c = 3\n")

    def test_long_files_are_clipped_with_a_marker(self) -> None:
        self.file.parent.mkdir()
        self.file.write_text("x = 1\n" * 5000)
        shown = self.edit("view", self.file)
        self.assertTrue(shown.startswith("     1\tx = 1\n"))
        self.assertIn("<clipped: only the first 10000", shown)
        self.assertLess(len(shown), 10_300)

    def test_directory_view_is_two_levels_without_hidden_entries(self) -> None:
        for name in ("a/b/c/deep.py", "a/b/shallow.py", "a/top.py", ".git/config", "a/.hidden", "root.txt"):
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text("")
        listing = self.edit("view", self.root).splitlines()
        expected = ["", "a/", "a/b/", "a/top.py", "root.txt"]
        self.assertEqual(listing, sorted(f"{self.root}/{entry}" for entry in expected))

    def test_refusals(self) -> None:
        self.edit("create", self.file, "x\n")
        cases = [
            (("create", self.file, "y\n"), "already exists"),
            (("edit", self.root / "missing.py", "y\n"), "does not exist"),
            (("edit", self.root, "y\n"), "not a regular file"),
            (("view", self.root / "missing.py"), "does not exist"),
            (("view", "relative/path.py"), "not an absolute path"),
            (("create", self.root / "new.py"), "file_text"),
            (("str_replace", self.file, "y"), "unknown command"),
        ]
        for arguments, message in cases:
            with self.subTest(arguments=arguments):
                answer = self.edit(*arguments)
                self.assertTrue(answer.startswith("Error: "), answer)
                self.assertIn(message, answer)
        self.assertEqual(self.file.read_text(), "x\n")

    def test_special_files_are_refused_not_read(self) -> None:
        fifo = self.root / "fifo"
        os.mkfifo(fifo)
        for path in (fifo, Path("/dev/zero")):
            with self.subTest(path=path):
                self.assertIn("not a regular file or a directory", self.edit("view", path))
                self.assertIn("not a regular file", self.edit("edit", path, "x"))

    def test_huge_files_are_read_only_as_far_as_shown(self) -> None:
        big = self.root / "big.txt"
        big.write_text(("é" * 99 + "\n") * 20_000)  # 4 MB of two-byte characters
        shown = self.edit("view", big)
        self.assertTrue(shown.startswith("     1\t" + "é" * 99 + "\n     2\t"))
        self.assertIn("<clipped: only the first 10000 characters are shown", shown)

    def test_binary_files_are_an_error_not_a_crash(self) -> None:
        blob = self.root / "blob.bin"
        blob.write_bytes(b"\xff\xfe\x00binary")
        self.assertIn("not UTF-8", self.edit("view", blob))


if __name__ == "__main__":
    unittest.main()
