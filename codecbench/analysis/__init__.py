"""Analysis of records: curves, BD-rate, reference curves, the CI regression gate. Never imports torch."""
