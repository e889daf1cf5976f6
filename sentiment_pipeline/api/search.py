"""Word forms for ``/v1/search``: a word of the query finds every word of the tickets with the
same Snowball (Porter 2) stem, so "refunds" finds refund, refunded and refunding, "charged"
finds charge and charges.

DuckDB's full-text search (its ``fts`` extension) downloads itself at run time, which fails
offline, so the forms come from the stemmer over the lake's own words: every word of every
ticket's subject and body, stemmed once per version of the ``ticket`` asset. A search is then
one scan of the range's text for the query's words in a row, each in any of its forms.
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING

import polars as pl
import snowballstemmer

from sentiment_pipeline import storage

if TYPE_CHECKING:
    from sentiment_pipeline.api.reads import Reader

OTHER = r"[^\pL\pN]"  # RE2 (DuckDB): anything but a letter or a digit separates words
VOCABULARY = rf"""
    select distinct word
    from (select unnest(string_split_regex(lower(concat_ws(' ', subject, body)), '{OTHER}+')) as word from {{ticket}})
    where regexp_full_match(word, '\pL+')
"""  # words with a digit (ids, codes, amounts) have no other forms: they match as written


def query_words(query: str) -> list[str]:
    """The query's words, lower case: runs of letters and digits."""
    return re.findall(r"[^\W_]+", query.lower())


class WordForms:
    """stem -> the words of the lake's tickets with that stem, rebuilt when ``ticket`` changes."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.version: str | None = None
        self.words: dict[str, list[str]] = {}
        self.stemmer = snowballstemmer.stemmer("english")  # PyStemmer's C stemmer when installed; not thread-safe
        self.lock = threading.Lock()

    def pattern(self, words: list[str]) -> tuple[str, str]:
        """A regular expression (RE2, over lower-case text) for ``words`` in a row, each in any of
        its forms; and a piece of text every match holds (the longest prefix the forms of one word
        share), for a cheap test before the expression."""
        with self.lock:
            current = storage.asset_version(self.reader.root, "ticket")
            if current != self.version:
                found = self.reader._query(VOCABULARY, ("ticket",))
                vocabulary = found.get_column("word") if found.height else pl.Series("word", [], pl.String)
                stems = pl.Series("stem", self.stemmer.stemWords(vocabulary.to_list()), pl.String)
                grouped = pl.DataFrame([vocabulary, stems]).group_by("stem").agg(pl.col("word").sort())
                self.words, self.version = dict(grouped.iter_rows()), current
            stems = self.stemmer.stemWords(words)
        forms = [sorted({word, *self.words.get(stem, ())}) for word, stem in zip(words, stems, strict=True)]
        pattern = f"(?:^|{OTHER})" + f"{OTHER}+".join(f"(?:{'|'.join(each)})" for each in forms) + f"(?:{OTHER}|$)"
        return pattern, max((os.path.commonprefix(each) for each in forms), key=len)  # noqa: RUF071 (words, not paths)
