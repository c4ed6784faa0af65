"""Integrations with other tools: the pytest plugin (`pytest bench`)."""
