"""Console entry points: each has get_parser() and main(argv); one job each."""
