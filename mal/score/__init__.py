"""Scoring: intrusive and non-intrusive metrics, and the results report."""
