"""kubernetes_asyncio's configuration, REST and auth layer without its generated API and model
classes.

The client edge (`kube.client`) uses four of kubernetes_asyncio's modules: `Configuration`, the
kubeconfig and in-cluster loaders, `ApiClient` (its aiohttp session, headers and auth settings)
and the exceptions. Importing any of them the usual way runs `kubernetes_asyncio/__init__.py`
and `kubernetes_asyncio/client/__init__.py`, which import every generated API class and all
~700 models: 37 MiB of each process's memory (measured: 41 → 78 MiB RSS), for the watcher and
the actuator, of code they never call (they send raw requests by path and parse answers as
JSON; nothing is deserialised into a model).

`load()` imports the packages `kubernetes_asyncio` and `kubernetes_asyncio.client` without
running their `__init__` (their module objects are made from their specs, as the import system
would, so their submodules import as usual), gives `kubernetes_asyncio.client` the names the
config loaders import from it, and stands an empty module in for
`kubernetes_asyncio.client.models` (only `ApiClient.deserialize` reads it). If kubernetes_asyncio
is already imported in full (a test or tool did so first), that is used as it is; if the layout
is not what this expects (another major version), the stand-ins are taken back and the package
is imported in full, so the worst case is the memory, never a broken client.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client")
_MODELS = "kubernetes_asyncio.client.models"


def load() -> tuple[Any, Any]:
    """`(client, config)`: kubernetes_asyncio's `client` (with `Configuration`, `ApiClient`,
    `ApiException`) and `config` packages, the client's models left out unless already loaded."""
    if "kubernetes_asyncio.client" not in sys.modules:
        try:
            _load_slim()
        except (ImportError, AttributeError):
            for name in [n for n in sys.modules if n == "kubernetes_asyncio" or n.startswith("kubernetes_asyncio.")]:
                del sys.modules[name]
    client = importlib.import_module("kubernetes_asyncio.client")
    config = importlib.import_module("kubernetes_asyncio.config")
    return client, config


def _load_slim() -> None:
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} is not a package here")
        module = importlib.util.module_from_spec(spec)  # not executed: its __init__ is what is skipped
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    client = sys.modules["kubernetes_asyncio.client"]
    models = types.ModuleType(_MODELS, "Not loaded: raybus_common.kube.slim left the generated models out.")
    sys.modules[_MODELS] = models
    client.models = models  # type: ignore[attr-defined]
    configuration = importlib.import_module("kubernetes_asyncio.client.configuration")
    exceptions = importlib.import_module("kubernetes_asyncio.client.exceptions")
    api_client = importlib.import_module("kubernetes_asyncio.client.api_client")
    client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
    client.ApiClient = api_client.ApiClient  # type: ignore[attr-defined]
    client.ApiException = exceptions.ApiException  # type: ignore[attr-defined]
    sys.modules["kubernetes_asyncio"].client = client  # type: ignore[attr-defined]
    importlib.import_module("kubernetes_asyncio.config")
