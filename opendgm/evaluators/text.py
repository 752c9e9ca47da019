"""Text cut to a size, for a model's prompt or a recorded reason: both ends kept (they say the most), the middle
marked as cut."""

from __future__ import annotations

CLIP_MARK = "\n[... {n} characters left out ...]\n"


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut in its middle (both ends of a log say the most), marked as cut."""
    if len(text) <= limit:
        return text
    mark = CLIP_MARK.format(n=len(text) - limit)
    keep = max(0, limit - len(mark))
    return f"{text[: keep // 2]}{mark}{text[len(text) - (keep - keep // 2) :]}" if keep else text[:limit]
