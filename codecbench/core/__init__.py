"""The core layer: codec interface, spec and registry, record schema and results files, metrics, images, errors.

Imports nothing above it, and never torch at import."""
