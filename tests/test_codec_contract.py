"""The codec contract, checked for every registered codec (``available_codecs()``): a new codec opts in by registering.

The tests are the codec author's kit (:mod:`codecbench.testing.test_contract`,
the same module ``pytest --pyargs codecbench.testing`` runs for a plug-in), run
here on every codec at the first and last point of its default sweep, on a
64×64 crop of a real photograph (the embedded dataset): the round trip gives a
uint8 image of the input's shape (bit-exact for a lossless codec); the bytes
alone, decoded in a fresh Python process, give the same image; empty,
truncated, foreign and garbage streams raise
:class:`~codecbench.core.errors.DecodeError` and nothing else; arrays that are
not images raise a named error; a stream whose header
:meth:`~codecbench.core.codec.Codec.forge_oversized` rewrote to declare a huge
image is refused quickly, without allocating it; the codec names the library
versions that make its bits; its canonical spec re-parses to the same codec.
``--codecs`` narrows it (``pytest tests/test_codec_contract.py --codecs jpeg``).
"""

from __future__ import annotations

from codecbench.core.codec import Spec, available_codecs
from codecbench.testing.cases import selected_points
from codecbench.testing.test_contract import *  # noqa: F401,F403  (the kit's contract tests)


def test_every_registered_codec_is_a_case():
    assert {Spec.parse(s).name for s in selected_points()} == set(available_codecs())
