"""Atlassian Document Format (Jira Cloud's v3 rich text) -> plain text.

Every block (paragraph, heading, code block, list item, a quote's paragraphs) becomes a
line; a hard break is a line break; list items start with "- " or their number; mentions,
emoji and smart links become the text a reader sees. Marks (bold, links) are dropped.
"""


def adf_to_text(value: object) -> object:
    """The plain text of an ADF document; any other value (v2 plain text, None) as it is."""
    if not (isinstance(value, dict) and value.get("type") == "doc"):
        return value
    lines: list[str] = []
    _blocks(value.get("content") or [], lines)
    return "\n".join(lines)


def _blocks(nodes: list, lines: list[str], prefix: str = "") -> None:
    for node in nodes:
        kind, content = node.get("type"), node.get("content") or []
        if kind in ("bulletList", "orderedList"):
            start = (node.get("attrs") or {}).get("order", 1)
            for number, item in enumerate(content, start=start):
                _blocks(item.get("content") or [], lines, "- " if kind == "bulletList" else f"{number}. ")
        elif kind in ("paragraph", "heading", "codeBlock"):
            lines.append(prefix + _inline(content))
        elif kind == "rule":
            continue
        elif kind in INLINE:
            lines.append(prefix + _inline([node]))
        else:  # blockquote, panel, expand, table, ...: their blocks, in order
            _blocks(content, lines, prefix)
        prefix = ""  # only a list item's first line carries its marker


def _inline(nodes: list) -> str:
    parts = []
    for node in nodes:
        kind, attrs = node.get("type"), node.get("attrs") or {}
        if kind == "text":
            parts.append(node.get("text", ""))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in ("mention", "emoji"):
            parts.append(attrs.get("text") or attrs.get("shortName") or "")
        elif kind in ("inlineCard", "blockCard"):
            parts.append(attrs.get("url", ""))
        elif kind == "status":
            parts.append(attrs.get("text", ""))
        else:
            parts.append(_inline(node.get("content") or []))
    return "".join(parts)


INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "status"}
