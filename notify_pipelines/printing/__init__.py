"""Letters to print: the nightly collation at the 17:30 deadline (reference §5.3)."""
