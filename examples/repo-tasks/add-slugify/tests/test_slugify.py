import unittest

from text import shout, slugify


class SlugifyTest(unittest.TestCase):
    def test_basic(self):
        self.assertEqual(slugify("Hello, World!"), "hello-world")

    def test_runs_and_edges(self):
        self.assertEqual(slugify("  --Déjà vu 2 -- "), "déjà-vu-2")

    def test_shout_unchanged(self):
        self.assertEqual(shout("hi"), "HI!")


if __name__ == "__main__":
    unittest.main()
