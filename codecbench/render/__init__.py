"""Rendering: markdown reports, RD sections, plots. Never imports torch."""
