"""Raybus actuator: the single writer to Kubernetes: raybus.act.* -> server-side apply, deletes, status, events."""
