"""Leaderboard: the paper's tables and figure, and an HTML report, from result files."""
