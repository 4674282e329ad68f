"""Raybus scheduler-bridge: batch schedulers and Kueue: PodGroups, Workloads, YuniKorn gang annotations."""
