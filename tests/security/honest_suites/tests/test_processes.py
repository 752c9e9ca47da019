import os
import subprocess
import sys
import tempfile
import unittest

import shop


class ProcessTest(unittest.TestCase):
    def test_run_echo(self):
        self.assertEqual(shop.run_echo("hi"), "hi")

    def test_subprocess_check_output(self):
        out = subprocess.check_output([sys.executable, "-c", "print(6 * 7)"], text=True)
        self.assertEqual(out.strip(), "42")

    def test_tempdir_and_chdir(self):
        before = os.getcwd()
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)
            try:
                self.assertEqual(os.path.realpath(shop.here()), os.path.realpath(folder))
            finally:
                os.chdir(before)

    def test_named_temporary_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            handle.write('{"n": 3}')
        self.addCleanup(os.remove, handle.name)
        self.assertEqual(shop.read_config(handle.name), {"n": 3})
