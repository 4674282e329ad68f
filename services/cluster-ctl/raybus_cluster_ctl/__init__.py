"""Raybus cluster-ctl: RayCluster controller."""
