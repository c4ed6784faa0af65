"""The block-pca checkpoint and its model card (package data, found with importlib.resources)."""
