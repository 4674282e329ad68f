"""Raybus watcher: list+watch of Ray CRs and the objects Raybus owns -> raybus.state.*."""
