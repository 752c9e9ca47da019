"""Tools are the modules in tools/: adding a file adds a tool, and a broken file stops the agent."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the agent's folder: `agent`, `tools`

from helpers import scratch
from tools import ToolLoadError, load_tools

GOOD = """
SPEC = {"name": "shout", "description": "Upper-case a text.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}

def run(text):
    return text.upper()
"""


class DiscoveryTest(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = scratch(self)

    def test_shipped_tools(self) -> None:
        tools = {tool.name: tool for tool in load_tools()}
        self.assertEqual(sorted(tools), ["bash", "editor"])
        for tool in tools.values():
            self.assertEqual(set(tool.spec), {"name", "description", "parameters"})
            self.assertEqual(tool.spec["parameters"]["type"], "object")

    def test_a_new_file_is_a_new_tool(self) -> None:
        (self.folder / "shout.py").write_text(GOOD)
        (self.folder / "_helper.py").write_text("raise RuntimeError('private modules are not tools')\n")
        (tool,) = load_tools(self.folder)
        self.assertEqual((tool.name, tool.run(text="hi")), ("shout", "HI"))

    def test_broken_tool_files_are_refused(self) -> None:
        cases = {
            "syntax.py": ("def run(:\n", "import failed"),
            "raises.py": ("raise ImportError('no such library')\n", "no such library"),
            "bare.py": ("def run():\n    return ''\n", "SPEC dict"),
            "nameless.py": ("SPEC = {'description': 'x', 'parameters': {}}\ndef run():\n    return ''\n", "name"),
        }
        for name, (source, message) in cases.items():
            with self.subTest(name=name):
                folder = scratch(self)
                (folder / name).write_text(source)
                with self.assertRaisesRegex(ToolLoadError, message):
                    load_tools(folder)

    def test_two_tools_with_one_name_are_refused(self) -> None:
        (self.folder / "a.py").write_text(GOOD)
        (self.folder / "b.py").write_text(GOOD)
        with self.assertRaisesRegex(ToolLoadError, "second tool named 'shout'"):
            load_tools(self.folder)


if __name__ == "__main__":
    unittest.main()
