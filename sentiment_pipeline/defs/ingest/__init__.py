"""Stage 1: landing files -> ``ticket`` and ``ticket_rejects``."""
