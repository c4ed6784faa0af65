"""The measurement engine: :mod:`.measure` (the one measure() every caller uses), :mod:`.runner` (specs ×
datasets, ``--jobs``), :mod:`.store` (the results file of a run), :mod:`.cache` (the results cache),
:mod:`.isolation` (worker processes), :mod:`.distributed` (Dask)."""
