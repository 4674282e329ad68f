"""Validating a RayCluster as KubeRay v1.7 does, plus what the CRD schema and webhook would reject:
`check` is the entry (parse once, then every rule in KubeRay's order); `schema` checks the raw
object and turns parse errors into problems; `spec` and `features` hold KubeRay's rules over the
typed model; `problems` the `Problem` type and the field paths. Pure."""
