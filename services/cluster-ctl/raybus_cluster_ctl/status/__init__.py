"""The desired `.status` of a RayCluster, as KubeRay v1.7's `calculateStatus` computes it:
`calculate` (state, counters, desired resources, the whole status and whether it changed),
`conditions` (HeadPodReady, Provisioned, Suspending/Suspended, Raybus's RayClusterValid),
`endpoints` (the head Service's ports and the head's addresses), `shape` (the status on the
wire, field for field as KubeRay's Go struct marshals). Pure."""
