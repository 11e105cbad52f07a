"""The prebuilt full-text index that search.js reads on a static host.

Every line of every log (nick and text) and every meeting's title is indexed.
The index is split twice so that a search downloads little and a new meeting
rewrites little:

- in chronological chunks of SEGMENT_SIZE meetings (a *segment*): a new
  meeting is the newest, so a build after it rewrites only the last segment
  (a meeting imported into the past rewrites the segments after it);
- inside a segment, by the first two characters of each word (a *shard*), so a
  query word fetches one small file per segment, and prefix search ("pack" finds
  "packaging") works.

Words are runs of letters and digits: `_`, `-`, `.` and `/` split them, so "iot"
finds `fedora_iot_working_group` and "wiki" finds `fedoraproject.org/wiki/ROCm`.
For a query word in the middle of a word ("blas" in "hipblas"), search.js reads the
segment's *vocabulary* (`words.json`, its words of four letters or more, without
postings: a few percent of the index) and then the shards of the words that hold it.
search.js ranks a line by how each query word matched (whole word, prefix, inside)
and ranks titles above log lines.

    search/index.json                {"version": 2, "segments": {"s0000": ["pa", "ro", "x6b65", ...]},
                                      "spans": {"s0000": ["2015-01-06", "2016-07-19"]}}
    search/<segment>/docs.json       [[page url, title, team, "YYYY-MM-DD", log url or ""], ...]
    search/<segment>/words.json      "word word ..." (sorted)
    search/<segment>/<shard>.json    {"word": "doc:line,line;doc:line", ...}

Line 0 is the meeting's title (the result links to the page's top and quotes the title).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from bot.core.record import record

SEGMENT_SIZE = 40  # meetings per segment: ~35 segments for ten years of five teams
WORD = re.compile(r"[^\W_]{2,40}")  # search.js: /[\p{L}\p{N}]{2,40}/gu
INDEX_VERSION = 2
VOCABULARY = "words.json"
INSIDE_MIN = 3  # a query word this long is also looked for inside words (search.js: INSIDE_MIN)
_ASCII_KEY = re.compile(r"^[a-z0-9]{2}$")


def shard_key(word: str) -> str:
    """A file-name-safe key for a word's first two characters (search.js computes the same)."""
    head = word[:2]
    return head if _ASCII_KEY.match(head) else "x" + head.encode("utf-8").hex()


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


@record
class SearchDoc:
    url: str  # the meeting page, relative to the site root
    title: str
    team: str
    date: str
    log_url: str  # the raw .log.txt (search.js reads result lines from it), "" without a log
    log: str  # the log's text


def build_segment(docs: Iterable[SearchDoc]) -> dict[str, str]:
    """The files of one segment: {file name: JSON text}."""
    postings: dict[str, list[int]] = {}
    doc_rows = []
    for number, doc in enumerate(docs):
        doc_rows.append([doc.url, doc.title, doc.team, doc.date, doc.log_url])
        base = number << 20  # line numbers stay below 2**20 (a million lines)
        for word in words(doc.title):
            postings.setdefault(word, []).append(base)
        findall = WORD.findall
        for line_no, line in enumerate(doc.log.lower().split("\n")[: (1 << 20) - 1], 1):
            # "HH:MM:SS " is not worth indexing; nick and text are.
            for word in set(findall(line, 9)):
                postings.setdefault(word, []).append(base | line_no)
    shards: dict[str, dict[str, str]] = {}
    for word, refs in sorted(postings.items()):  # words came from sets: sorted, a shard's bytes do not vary by process
        shards.setdefault(shard_key(word), {})[word] = _encode(refs)
    files = {f"{key}.json": json.dumps(body, ensure_ascii=False, separators=(",", ":"))
             for key, body in shards.items()}
    files["docs.json"] = json.dumps(doc_rows, ensure_ascii=False, separators=(",", ":"))
    # Only words long enough to hold a query word past their first letter (prefixes need no vocabulary).
    files[VOCABULARY] = json.dumps(" ".join(w for w in sorted(postings) if len(w) > INSIDE_MIN), ensure_ascii=False)
    return files


def _encode(refs: list[int]) -> str:
    """[doc << 20 | line, ...] (sorted) as "doc:line,line;doc:line"."""
    groups: list[str] = []
    current = -1
    lines: list[str] = []
    for ref in refs:
        doc = ref >> 20
        if doc != current:
            if lines:
                groups.append(f"{current}:{','.join(lines)}")
            current, lines = doc, []
        lines.append(str(ref & 0xFFFFF))
    if lines:
        groups.append(f"{current}:{','.join(lines)}")
    return ";".join(groups)


def shard_names(files: Iterable[str]) -> list[str]:
    """The shards among a segment's file names."""
    return sorted(name[:-5] for name in files if name not in ("docs.json", VOCABULARY))


def index_json(segments: dict[str, list[str]], spans: dict[str, tuple[str, str]]) -> str:
    """search/index.json: the segments, for each the shards it has (no 404s for the script) and its first
    and last meeting's dates (a search for one year skips the other segments)."""
    return json.dumps({"version": INDEX_VERSION, "segments": {k: sorted(v) for k, v in sorted(segments.items())},
                       "spans": {k: list(v) for k, v in sorted(spans.items())}}, separators=(",", ":"))
