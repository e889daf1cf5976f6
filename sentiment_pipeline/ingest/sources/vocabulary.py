"""Channels and priorities as the helpdesk tools write them -> the canonical vocabularies.

One table for every source: the tools' values do not collide (Zendesk ``voice``, Freshdesk
``Portal``, ServiceNow ``self-service`` and ``1 - Critical``, Jira ``Highest``), so a value
means the same wherever it comes from. Matching ignores case and surrounding blanks. A
channel outside the table is ``other``; a priority outside it is null (the value as written
is kept beside both, so nothing is lost).
"""

import polars as pl

CHANNELS = ("email", "chat", "phone", "web", "social", "api", "other")
PRIORITIES = ("low", "normal", "high", "urgent")

CHANNEL_OF: dict[str, str] = {
    **dict.fromkeys(["email", "e-mail", "mail", "inbound email", "outbound email", "email (outbound)"], "email"),
    **dict.fromkeys(["chat", "live chat", "messaging", "native_messaging", "whatsapp", "virtual_agent", "chat bot", "chatbot"], "chat"),
    **dict.fromkeys(["phone", "voice", "call", "telephone", "sms", "phone call"], "phone"),
    **dict.fromkeys(
        ["web", "portal", "self-service", "web form", "webform", "web widget", "feedback widget", "forum", "help center", "help_center"],
        "web",
    ),
    **dict.fromkeys(["social", "twitter", "facebook", "instagram", "x", "social media", "any_channel"], "social"),
    **dict.fromkeys(["api", "mobile_sdk", "mobile", "integration"], "api"),
}
PRIORITY_OF: dict[str, str] = {
    **dict.fromkeys(["urgent", "highest", "blocker", "critical", "1 - critical", "p1", "1"], "urgent"),
    **dict.fromkeys(["high", "major", "2 - high", "p2", "2"], "high"),
    **dict.fromkeys(["normal", "medium", "moderate", "3 - moderate", "p3", "3"], "normal"),
    **dict.fromkeys(["low", "lowest", "minor", "trivial", "4 - low", "5 - planning", "planning", "p4", "p5", "4", "5"], "low"),
}


def channel(raw: pl.Expr) -> pl.Expr:
    """The canonical channel of a raw value (null stays null, blank is null)."""
    key = raw.str.strip_chars().str.to_lowercase()
    return pl.when(key != "").then(key.replace_strict(CHANNEL_OF, default="other", return_dtype=pl.String))


def priority(raw: pl.Expr) -> pl.Expr:
    """The canonical priority of a raw value, or null when the value is not one we know."""
    key = raw.str.strip_chars().str.to_lowercase()
    return key.replace_strict(PRIORITY_OF, default=None, return_dtype=pl.String)
