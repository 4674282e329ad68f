"""Pydantic models of KubeRay's `ray.io/v1` custom resources, from which the CRDs are generated.

One public module per kind (`raycluster`, `rayjob`, `rayservice`, `raycronjob`); `base` holds the
conventions they follow, `schema` and `manifest` turn them into CustomResourceDefinitions.
"""

from __future__ import annotations

from .base import CRDObject
from .raycluster import API_VERSION, GROUP, VERSION, RayCluster
from .raycronjob import RayCronJob
from .rayjob import RayJob
from .rayservice import RayService

__all__ = ["API_VERSION", "GROUP", "KINDS", "VERSION", "RayCluster", "RayCronJob", "RayJob", "RayService"]

KINDS: tuple[type[CRDObject], ...] = (RayCluster, RayJob, RayService, RayCronJob)
