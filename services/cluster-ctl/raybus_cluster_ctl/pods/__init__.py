"""Building a RayCluster's Pods the way KubeRay v1.7 builds them (`common/pod.go`): `build` assembles
head and worker pods from `raystart` (the `ray start` command), `env` (the Ray container's env and
GCS fault tolerance), `security` (token auth, mTLS), `autoscaler` (the sidecar), `probes` and
`init_container` (`wait-gcs-ready`). Pure."""
