"""Where chunks end: at block boundaries near the limit, on every fixture page and several limits, characters or
tokens, and always so that following the hints reassembles the page exactly."""

from __future__ import annotations

import json
import random
import re
from functools import cache
from pathlib import Path

import pytest

from docs_proxy import tokens
from docs_proxy.convert import Document, convert
from docs_proxy.paging import chunk_end, format_documentation_result

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "aws-pages"
MANIFEST: dict[str, str] = json.loads((PAGES / "MANIFEST.json").read_text())
HEADER = re.compile(r"AWS Documentation from (\S+):\n(?:<e>Relative links resolve against \S+\.</e>\n)?\n")
HINT = re.compile(
    r"\n\n<e>Content truncated\. Call the \w+ tool with (?:the same section_titles and )?start_index=(\d+) "
    r"to get more content\."
)
HEADING_LINE = re.compile(r"#{1,6} ")


@cache
def page(url: str) -> Document:
    return convert((PAGES / MANIFEST[url]).read_text(), url)


def chunks(url: str, content: str, max_length: int, max_tokens: int | None = None) -> list[tuple[int, str]]:
    """Every chunk of `content` as the tool serves it, following each answer's hint: (start, text)."""
    start, found = 0, []
    while True:
        answer = format_documentation_result(url, content, start, max_length, max_tokens=max_tokens)
        header = HEADER.match(answer)
        assert header is not None and header.group(1) == url
        hint = HINT.search(answer, header.end())
        body = answer[header.end() : hint.start() if hint else len(answer)]
        found.append((start, body))
        if hint is None:
            return found
        following = int(hint.group(1))
        assert following == start + len(body)  # start_index is a character offset: where this chunk ended
        start = following


def check_boundary(content: str, start: int, body: str, max_length: int) -> None:
    """A chunk that is not the last ends at the best boundary its last fifth offers."""
    end = start + len(body)
    low = start + max_length - max_length // 5
    window = content[low : start + max_length]
    if "\n" in window:
        assert body.endswith("\n"), (body[-80:], content[end : end + 80])  # never mid-line (code: between lines)
    if "\n\n" in window:  # after a blank line, or before the heading the chunk would otherwise end with
        assert body.endswith("\n\n") or HEADING_LINE.match(content, end), (body[-80:], content[end : end + 80])
    text = body.rstrip("\n")
    last_line = start + text.rfind("\n") + 1
    if HEADING_LINE.match(content, last_line):  # a heading ends a chunk only when no boundary before it was near
        assert last_line < low or last_line == start, body[-120:]


@pytest.mark.parametrize("url", list(MANIFEST))
@pytest.mark.parametrize("max_length", [97, 500, 1000, 3000, 5000, 12_345])
def test_chunks_reassemble_every_page_exactly_and_end_at_block_boundaries(url: str, max_length: int) -> None:
    content = page(url).markdown
    served = chunks(url, content, max_length)
    assert "".join(body for _start, body in served) == content
    assert all(0 < len(body) <= max_length for _start, body in served)
    for start, body in served[:-1]:
        assert len(body) >= max_length - max_length // 5  # the boundary lies in the last fifth
        check_boundary(content, start, body, max_length)


@pytest.mark.parametrize("url", list(MANIFEST))
@pytest.mark.parametrize("max_tokens", [60, 700, 2500])
def test_token_chunks_hold_the_budget_and_reassemble_exactly(url: str, max_tokens: int) -> None:
    content = page(url).markdown
    served = chunks(url, content, 999_999, max_tokens)
    assert "".join(body for _start, body in served) == content
    for _start, body in served:
        assert tokens.count(body) <= max_tokens
    for _start, body in served[:-1]:
        assert tokens.count(body) >= max_tokens // 2  # not needlessly short


def test_max_length_and_max_tokens_the_tighter_wins() -> None:
    url = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
    content = page(url).markdown
    by_length = chunks(url, content, 1000, 5000)[0][1]
    assert len(by_length) <= 1000 and tokens.count(by_length) < 5000
    by_tokens = chunks(url, content, 20_000, 300)[0][1]
    assert tokens.count(by_tokens) <= 300 and len(by_tokens) < 2000


def test_a_paragraph_boundary_beats_a_list_item_which_beats_a_line() -> None:
    # max_length 100: the last fifth is [80, 100].
    text = "x" * 85 + "\n\n- one\n- two\nwrapped\n" + "y" * 50
    assert chunk_end(text, 0, 100) == 87  # after the blank line, though item and line ends come later
    text = "a" * 80 + "\n- two\nwrapped\n" + "d" * 50
    assert chunk_end(text, 0, 100) == 81  # the last list item's start, though a line end comes later (95)
    text = "a" * 80 + "\nplain\nwrapped\n" + "d" * 50
    assert chunk_end(text, 0, 100) == 95  # the last line end
    text = "a" * 70 + "\n\n" + "b" * 100
    assert chunk_end(text, 0, 100) == 100  # a boundary before the last fifth is not taken


def test_a_table_is_split_between_its_rows() -> None:
    table = "| Name | Value |\n| --- | --- |\n" + "".join(f"| quota-{i} | {i * 1000:,} units |\n" for i in range(300))
    start = 0
    while start < len(table):
        end = chunk_end(table, start, 250)
        assert end == len(table) or (table[end - 2 : end] == "|\n" and table[end] == "|")
        start = end


def test_a_heading_starts_the_next_chunk_rather_than_ending_this_one() -> None:
    text = "word " * 18 + "\n\nlast paragraph.\n\n## Next section\n\nIts text goes on and on for a while."
    heading = text.index("## Next")
    end = chunk_end(text, 0, heading + len("## Next section\n\n") + 2)
    assert end == heading


def test_a_code_block_is_split_between_its_lines() -> None:
    code = "```python\n" + "".join(f"value_{i} = compute({i}, 'argument')\n" for i in range(200)) + "```\n"
    start = 0
    while start < len(code):
        end = chunk_end(code, start, 300)
        assert end == len(code) or code[end - 1] == "\n"
        start = end


def test_without_a_line_end_the_last_space_then_the_limit() -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert words[: chunk_end(words, 0, 33)] == "alpha beta gamma delta epsilon "  # last fifth: [27, 33]
    assert chunk_end("x" * 100, 0, 30) == 30
    assert chunk_end("abc", 0, 2) == 2 and chunk_end("abc", 1, 5) == 3


def test_a_hard_cut_keeps_a_character_with_its_marks_and_a_surrogate_pair_whole() -> None:
    accented = "e\u0301" * 30  # e + combining acute, no spaces or line ends
    end = chunk_end(accented, 0, 11)
    assert end == 10 and accented[end] == "e"
    pairs = "\ud83d\ude00" * 30  # a pair kept as two code units (as surrogatepass text has them)
    end = chunk_end(pairs, 0, 11)
    assert end == 10
    emoji = "\U0001f600" * 30  # one code point each: any cut is whole
    assert chunk_end(emoji, 0, 11) == 11


def test_every_chunk_makes_progress_and_keeps_within_its_limit() -> None:
    """On text mixing every kind of boundary (and none), with every small limit: start < end <= start + limit."""
    rng = random.Random(16)
    alphabet = ["a", "b", " ", "\n", "\n\n", "- ", "| ", "# ", "## x\n\n", "e\u0301", "\ud83d\ude00", "```\n"]
    for _text in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        for max_length in range(1, 40):
            start = 0
            while start < len(text):
                end = chunk_end(text, start, max_length)
                assert start < end <= min(len(text), start + max_length)
                start = end
