"""Ray's side of the bus: what Raybus observes of Ray's dashboards and the calls it makes to them.

`jobs` and `serve` are the pure contract every service shares (where a cluster's dashboard is, a
job submission, the `RayJobInfo` and `RayServeApplications` observations, whether a serve config
is the deployed one); `address` and `dashboard` are the edge that reaches a dashboard over HTTP
(the watcher's pollers and the actuator's executor use them, controllers never do).
"""
