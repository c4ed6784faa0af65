"""The opt-in image quality metrics of the field's test conditions (JPEG AI, AOM CTC, libjxl's benchmark).

One module per metric family, each computing from uint8 H×W×C images with
numpy, OpenCV or scikit-image (no torch), the original's side kept per image
by :mod:`codecbench.core.refcache`; :mod:`codecbench.core.iqa.table`
registers them as metrics and names the presets. docs/metrics.md says where
each comes from and how it was validated.
"""
