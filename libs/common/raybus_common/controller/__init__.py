"""The controller framework. Import the module you need; this `__init__` imports nothing.

Pure (no I/O, no clock of their own, no environment): `config` (what every reconcile may read),
`view` (the picture rebuilt from the bus), `expectations`, `partitions`. `leases` speaks to a
`kv.KV`; `workqueue` is controller-runtime's queue on asyncio; `runtime` turns a `ControllerSpec`
into a live controller over a `bus.base.Bus`.
"""
