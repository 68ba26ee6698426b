"""Console scripts: each parses arguments and calls a typed function that returns an exit code."""
