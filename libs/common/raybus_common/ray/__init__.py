"""Ray's side of the bus: what Raybus observes of Ray's dashboards and the calls it makes to them.

`jobs` is the pure contract every service shares (where a cluster's dashboard is, a job
submission, the `RayJobInfo` observation); `address` and `dashboard` are the edge that reaches
a dashboard over HTTP (the watcher's poller and the actuator's executor use them, controllers
never do).
"""
