"""One module per command: each maps its options onto one function that returns data."""
