"""Leaderboard results and published numbers (data package)."""
