"""Speed and quality measurements of mal that print tables (see bench/README.md)."""
