"""opendgm: an open framework for self-improving coding agents in the style of the Darwin Gödel Machine."""

from opendgm.version import __version__ as __version__
