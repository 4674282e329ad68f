"""Building a RayCluster's other children the way KubeRay v1.7 builds them: `services` (head,
serve, headless worker), `ingress`, `rbac` (the autoscaler's), `auth_secret`, `cleanup_job` (the
Redis cleanup Job), with the `metadata` they all carry. Pure; the pass decides which to create."""
