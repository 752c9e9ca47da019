"""opendgm: an open framework for self-improving coding agents in the style of the Darwin Gödel Machine."""

__version__ = "0.1.0"
