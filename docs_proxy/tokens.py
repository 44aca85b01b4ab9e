"""Token counts for the tools' `max_tokens` budget: OpenAI's o200k_base, by the `bpe-openai` package.

Its wheel carries the vocabulary, so counting works offline and needs no download at first use. The encoding is
loaded once, on first use (0.1 s), under a lock. Counting is CPU work: the tools call it in the "cpu" pool, never
on the event loop, and only ever on a window about the size of the budget, never on a whole page.

The package refuses to encode a million characters or to return more than 200,000 tokens at once, so longer
text is counted in pieces of at most PIECE characters, cut at a line end where there is one in the piece's second
half; `count` of a text is the sum over its pieces (exact for the text of any chunk under PIECE characters).
"""

from __future__ import annotations

import threading
from typing import Any

ENCODING = "o200k_base"
PIECE = 40_000  # characters a call encodes at most: under 200,000 tokens even at four tokens a character
_lock = threading.Lock()
_encoding: Any = None


def encoding() -> Any:
    """The o200k_base encoding, loaded on first use (once, however many threads ask at the same time)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                import bpe_openai  # imported here: a process that never counts never loads the vocabulary

                _encoding = bpe_openai.get_encoding(ENCODING)
    return _encoding


def _clean(text: str) -> str:
    """The text as the tokenizer sees it: a lone surrogate (not UTF-8) becomes U+FFFD, one character for one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _piece_end(text: str, pos: int, end: int, size: int) -> int:
    """Where a piece from `pos` ends: `pos + size`, or after a line end in its second half, or `end`."""
    stop = pos + size
    if stop >= end:
        return end
    line = text.rfind("\n", pos + size // 2, stop)
    return line + 1 if line >= 0 else stop


def count(text: str) -> int:
    """The number of o200k_base tokens of `text` (in pieces when it is longer than PIECE characters)."""
    encode = encoding().encode_ordinary
    total, pos = 0, 0
    while pos < len(text):
        stop = _piece_end(text, pos, len(text), PIECE)
        total += len(encode(_clean(text[pos:stop])))
        pos = stop
    return total


def chars_within(text: str, start: int, max_chars: int, max_tokens: int) -> int:
    """How many characters from `start` (at most `max_chars`) hold at most `max_tokens` tokens.

    Reads a window of about six characters per token still wanted (English averages four), so serving 2,000
    tokens of a 5 MB page encodes some 12,000 characters; only text of unusually long tokens needs a second.
    """
    enc = encoding()
    cap = min(len(text), start + max_chars)
    pos, used = start, 0
    while pos < cap:
        wanted = max_tokens - used
        stop = _piece_end(text, pos, cap, min(PIECE, max(64, 6 * wanted)))
        piece = _clean(text[pos:stop])
        ids = enc.encode_ordinary(piece)
        if len(ids) <= wanted:
            used += len(ids)
            pos = stop
            continue
        # The first `wanted` tokens end inside this piece: the whole characters their bytes cover.
        covered = len(enc.decode_bytes(ids[:wanted]))
        return pos - start + len(piece.encode("utf-8")[:covered].decode("utf-8", "ignore"))
    return cap - start
