"""Raybus serve-ctl: RayService controller."""
