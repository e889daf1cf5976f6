"""Word forms for ``/v1/search``: a word of the query finds every word of the tickets searched
that has the same Snowball (Porter 2) stem, so "refunds" finds refund, refunded and
refunding, "charged" finds charge and charges.

DuckDB's full-text search (its ``fts`` extension) downloads itself at run time, which fails
offline, so the forms come from the stemmer (snowballstemmer, running PyStemmer's C
stemmers) over the tickets' own words. The stemmer changes at most the last letter of what
it keeps of a word (happy -> happi, hoping -> hope), so every form of a word holds its stem
less that letter (but for a few irregulars it lists: lying -> lie): DuckDB reads only the tickets holding that piece (one scan of the range,
``contains``, no regular expression); here their words with each query word's piece are
stemmed, those with the query word's stem are its forms, and a ticket matches when its
subject or its body has the query's words in a row, each in one of its forms.
"""

import os
import re

import polars as pl
import snowballstemmer

WORD = re.compile(r"[^\W_]+")  # letters and digits; anything else separates words
OTHER = r"[^\p{L}\p{N}]"  # the same in polars' regular expressions


def query_words(query: str) -> list[str]:
    """The query's words, lower case."""
    return WORD.findall(query.lower())


def stems(words: list[str]) -> list[str]:
    return snowballstemmer.stemmer("english").stemWords(words)  # a stemmer per call: they are not thread-safe


def pieces(words: list[str]) -> list[str]:
    """Per word, the text every form of it holds: its stem less the last letter, as far as the
    word itself holds that (Snowball's own irregulars: lying -> lie)."""
    return [os.path.commonprefix([word, stem[:-1] or stem]) for word, stem in zip(words, stems(words), strict=True)]  # noqa: RUF071 (words)


def matching(found: pl.DataFrame, words: list[str]) -> pl.Series:
    """Which rows of ``found`` (``subject``, ``body``) hold ``words`` in a row, each in any form."""
    texts = [pl.col("subject").str.to_lowercase(), pl.col("body").str.to_lowercase()]
    forms = []
    for word, stem, piece in zip(words, stems(words), pieces(words), strict=True):
        holding = rf"[\p{{L}}\p{{N}}]*{re.escape(piece)}[\p{{L}}\p{{N}}]*"
        candidates = pl.concat(found.select(t.str.extract_all(holding).explode()).to_series() for t in texts).drop_nulls().unique()
        forms.append(sorted({word} | {c for c, s in zip(candidates, stems(candidates.to_list()), strict=True) if s == stem}))
    pattern = f"(?:^|{OTHER})" + f"{OTHER}+".join(f"(?:{'|'.join(map(re.escape, each))})" for each in forms) + f"(?:{OTHER}|$)"
    return found.select(pl.any_horizontal(t.str.contains(pattern).fill_null(False) for t in texts)).to_series()
