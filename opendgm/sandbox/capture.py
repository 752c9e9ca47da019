"""Bounded capture of a process's output: keeps the first N bytes of a stream, counts the rest."""

from __future__ import annotations


class CappedBuffer:
    """Keeps at most `cap` bytes; everything after is counted and dropped, so memory stays bounded."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self.cap - self.kept
        if room > 0:
            piece = chunk[:room]
            self._chunks.append(piece)
            self.kept += len(piece)
        self.dropped += max(0, len(chunk) - max(room, 0))

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        body = b"".join(self._chunks).decode("utf-8", errors="replace")
        if self.dropped:
            body += f"\n[opendgm: {self.dropped} more bytes of output dropped (cap {self.cap} bytes)]\n"
        return body
