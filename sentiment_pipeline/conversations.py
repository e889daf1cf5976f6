"""A ticket as a conversation: its messages in order, who wrote each, their scores, and how
the customer's mood moved from their first message to their last (pure polars, no Dagster).

The opening message (seq 0) is the subject and body, written by the ticket's customer; the
comments follow in time order. A comment's author is the ``customer`` when they are the
ticket's customer, an ``agent`` when they are its assignee or the assignee of any ticket of
the day, else ``other``. Only the customer's messages move the trajectory: agents are polite
whatever happens, and their replies would drown the signal.
"""

from __future__ import annotations

import polars as pl

from sentiment_pipeline.schemas import COMMENT, SENTIMENT, SENTIMENT_LABELS
from sentiment_pipeline.sentiment import Model, scored, ticket_text

CONVERSATION_COLUMNS = ("ticket_id", "created_at", "subject", "body", "customer_id", "agent_id", "comments")
RANK = {label: rank for rank, label in enumerate(SENTIMENT_LABELS)}  # negative < neutral < positive


def messages(tickets: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per message of each ticket (``COMMENT`` without the scores), by ticket and seq."""
    frame = tickets.lazy().select(CONVERSATION_COLUMNS).collect()
    agents = frame.get_column("agent_id").drop_nulls().unique().implode()
    opening = frame.select(
        "ticket_id",
        seq=pl.lit(0, dtype=pl.Int32),
        created_at="created_at",
        author="customer_id",
        role=pl.lit("customer"),
        text=ticket_text(frame),
    )
    replies = (
        frame.select("ticket_id", "customer_id", "agent_id", "comments")
        .explode("comments")
        .drop_nulls("comments")
        .unnest("comments")
        .with_columns(written=pl.int_range(pl.len()).over("ticket_id"))  # ties in time keep the order written
        .sort("ticket_id", "created_at", "written")
        .select(
            "ticket_id",
            seq=(pl.int_range(pl.len()).over("ticket_id") + 1).cast(pl.Int32),
            created_at="created_at",
            author="author",
            role=_role(pl.col("author"), pl.col("customer_id"), pl.col("agent_id"), agents),
            text="text",
        )
    )
    return pl.concat([opening, replies]).sort("ticket_id", "seq")


def _role(author: pl.Expr, customer: pl.Expr, agent: pl.Expr, agents: pl.Series) -> pl.Expr:
    def same(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        return a.str.strip_chars().str.to_lowercase() == b.str.strip_chars().str.to_lowercase()

    return (
        pl.when(same(author, customer))
        .then(pl.lit("customer"))
        .when(same(author, agent) | author.is_in(agents))
        .then(pl.lit("agent"))
        .otherwise(pl.lit("other"))
    )


def score_messages(conversation: pl.DataFrame, model: Model = Model(), workers: int | None = None) -> pl.DataFrame:
    """The messages with their scores (``COMMENT``): every text scored on every core."""
    scores = scored(conversation.get_column("text").fill_null(""), model, workers)
    return pl.concat([conversation, scores], how="horizontal").select(list(COMMENT)).cast(COMMENT)


def ticket_sentiment(scored_messages: pl.DataFrame, model: Model = Model()) -> pl.DataFrame:
    """One row per ticket (``SENTIMENT``): the opening message's scores, and the trajectory of
    the customer's labels from their first message to their last."""
    customer = scored_messages.filter(pl.col("role") == "customer").sort("ticket_id", "seq")
    moods = customer.group_by("ticket_id").agg(
        first_customer_label=pl.col("label").first(), last_customer_label=pl.col("label").last(), customer_messages=pl.len()
    )
    first, last = (pl.col(c).replace_strict(RANK, return_dtype=pl.Int8) for c in ("first_customer_label", "last_customer_label"))
    trajectory = (
        pl.when(pl.col("customer_messages").is_null())
        .then(None)
        .when(pl.col("customer_messages") == 1)
        .then(pl.lit("single"))
        .when(last > first)
        .then(pl.lit("improving"))
        .when(last < first)
        .then(pl.lit("declining"))
        .otherwise(pl.lit("stable"))
    )
    return (
        scored_messages.filter(pl.col("seq") == 0)
        .join(moods, on="ticket_id", how="left")
        .with_columns(trajectory=trajectory, model=pl.lit(model.name), model_version=pl.lit(model.version))
        .select(list(SENTIMENT))
        .cast(SENTIMENT)
    )
