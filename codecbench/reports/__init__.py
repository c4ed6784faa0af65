"""Reports from result records: markdown tables, BD-rate, rate–distortion plots."""
