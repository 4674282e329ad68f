"""Raybus cron: RayCronJob controller."""
