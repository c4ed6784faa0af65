"""Built-in codecs, one module per family.

This package lives at ``codecbench.codecs`` and not at a top-level ``codecs``
because Python's standard library already has a ``codecs`` module, imported at
interpreter start-up, which would always shadow it.
"""
