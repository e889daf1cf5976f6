"""Stage 2: ``ticket`` -> ``sentiment`` and ``entity``."""
