"""The bus protocol. Import the module you need; this package's `__init__` imports nothing, so a
pure module can use `bus.subjects` without loading a client, a tracer or a metrics registry.

| module        | what                                                               | pure? |
|---------------|--------------------------------------------------------------------|-------|
| `subjects`    | the only place a subject is built or parsed                        | yes   |
| `envelopes`   | the messages (state, actions on the bus, results, dead letters)    | yes   |
| `streams`     | the JetStream streams and consumers, described as data             | yes   |
| `config`      | how a service reaches NATS and keeps the streams (`NatsConfig`)    | yes   |
| `base`        | the `Bus` protocol and `dispatch`, the one outcome rule            | no (tracing, metrics) |
| `publisher`   | a window of unacknowledged publishes, and a batch at once (`Bus.publisher`, `publish_many`) | no (asyncio) |
| `memory`      | `MemoryBus`, for unit tests of handlers                            | no    |
| `nats`, `nats_kv` | `NatsBus` and its key-value store: with `follow`, the only modules importing nats | no |
| `follow`      | following subjects across streams, for `raybus tail`               | no    |
"""
