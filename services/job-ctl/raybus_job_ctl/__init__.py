"""Raybus job-ctl: RayJob controller."""
