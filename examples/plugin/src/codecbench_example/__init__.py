"""An example codecbench plug-in: two codecs, found by codecbench through this distribution's entry points."""
