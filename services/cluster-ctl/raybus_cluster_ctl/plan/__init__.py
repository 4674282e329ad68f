"""One reconcile pass of a RayCluster, in KubeRay's order: the `Pass` that collects actions and
Events (`collector`), the children (`children`), the pods (`pods`, named by `podnames`), and
deletion with the GCS fault-tolerance finalizer (`deletion`). Pure."""
