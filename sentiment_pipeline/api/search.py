"""Word forms, the one rule of ``/v1/search`` and of NLQ's "tickets mentioning X": a word of the
query finds every word with the same Snowball (Porter 2) stem, so "refunds" finds refund,
refunded and refunding, "charged" finds charge and charges; a ticket matches when its subject
or its body has the query's words in a row, each in one of its forms.

DuckDB's full-text search (its ``fts`` extension, with a stemmer) downloads itself at run time,
which fails offline, so the forms come from snowballstemmer over the words of the tickets
searched. The stemmer changes at most the last letter of what it keeps of a word (happy ->
happi, hoping -> hope), so every form holds its stem less that letter (but for a few
irregulars: lying -> lie): DuckDB reads only the tickets holding that piece (``HOLDING``, no
regular expression), the forms are their words with the query word's stem, and ``MATCHING``
is the SQL predicate keeping the tickets with the words in a row (the forms as one regular
expression, ``$forms``).
"""

import os
import re

import polars as pl
import snowballstemmer

WORD = re.compile(r"[^\W_]+")  # letters and digits; anything else separates words
OTHER = r"[^\p{L}\p{N}]"  # the same in DuckDB's and polars' regular expressions
HOLDING = "(contains(lower({t}.subject), $piece) or contains(lower({t}.body), $piece))"
MATCHING = "(coalesce(regexp_matches(lower({t}.subject), $forms), false) or coalesce(regexp_matches(lower({t}.body), $forms), false))"


def query_words(query: str) -> list[str]:
    """The query's words, lower case."""
    return WORD.findall(query.lower())


def stems(words: list[str]) -> list[str]:
    return snowballstemmer.stemmer("english").stemWords(words)  # a stemmer per call: they are not thread-safe


def pieces(words: list[str]) -> list[str]:
    """Per word, the text every form of it holds: its stem less the last letter, as far as the
    word itself holds that (Snowball's own irregulars: lying -> lie)."""
    return [os.path.commonprefix([word, stem[:-1] or stem]) for word, stem in zip(words, stems(words), strict=True)]  # noqa: RUF071 (words)


def piece(words: list[str]) -> str:
    """The longest piece: the rarest, most likely, so the fewest tickets to read."""
    return max(pieces(words), key=len)


def forms(words: list[str], found: pl.DataFrame | None = None) -> str:
    """The ``$forms`` parameter of ``MATCHING``: ``words`` in a row, each in any form the
    ``subject`` and ``body`` of ``found`` (the tickets holding the piece) have."""
    texts = [pl.col("subject").str.to_lowercase(), pl.col("body").str.to_lowercase()]
    each = []
    for word, stem, part in zip(words, stems(words), pieces(words), strict=True):
        if found is None or not found.height:  # (nothing read: no columns either)
            each.append([word])
            continue
        holding = rf"[\p{{L}}\p{{N}}]*{re.escape(part)}[\p{{L}}\p{{N}}]*"
        candidates = pl.concat(found.select(t.str.extract_all(holding).explode()).to_series() for t in texts).drop_nulls().unique()
        each.append(sorted({word} | {c for c, s in zip(candidates, stems(candidates.to_list()), strict=True) if s == stem}))
    return f"(?:^|{OTHER})" + f"{OTHER}+".join(f"(?:{'|'.join(map(re.escape, e))})" for e in each) + f"(?:{OTHER}|$)"
