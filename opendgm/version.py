"""The package version, in a room of its own at the bottom so any room may read it (the package's
`__init__` is the library's public face and sits on top)."""

__version__ = "0.1.0"
