"""The `raybus` command: `up`, `down`, `status` for the local stack; `crds generate|check|apply`.

`raybus crds apply` is what the Helm chart's pre-install,pre-upgrade hook Job runs
(deploy/helm/raybus/templates/crds-job.yaml): it server-side applies the CRD files of a
directory (the image's /crds; default deploy/crds) to the cluster of --kubeconfig, $KUBECONFIG
or, in a pod, the service account's, and waits until each is Established.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raybus", description="Raybus: Ray on Kubernetes over NATS JetStream")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start control plane, NATS and every service locally (no Docker)")
    p_up.add_argument("--no-sample", action="store_true", help="do not apply the sample RayCluster")
    p_up.add_argument("--ray", action="store_true", help="also start a real Ray head that every head pod's IP "
                      "reaches (routes the kwok pod network here; needs root and `make ray`)")
    sub.add_parser("down", help="stop everything `raybus up` started")
    sub.add_parser("status", help="show what `raybus up` started, and where")
    p_tail = sub.add_parser("tail", help="follow bus subjects, live or replayed, one readable line each")
    p_tail.add_argument("pattern", nargs="?", default="raybus.>", help="subject pattern (default raybus.>)")
    p_tail.add_argument("--since", help="replay from a duration ago (10m, 2h) or an ISO time, then follow")
    p_tail.add_argument("--object", help="everything about one object: kind/namespace/name")
    p_tail.add_argument("--json", action="store_true", help="the raw envelope, one JSON object per line")
    p_tail.add_argument("--no-follow", action="store_true", help="print what the streams hold and exit: the state "
                        "stream holds only each object's last message, and carried-out actions are not kept")
    p_tail.add_argument("--nats-url", help="default: $RAYBUS_NATS_URL, else the `raybus up` stack, else localhost")
    p_crds = sub.add_parser("crds", help="generate or check deploy/crds/ from the models; apply them to a cluster")
    p_crds.add_argument("action", choices=["generate", "check", "apply"])
    p_crds.add_argument("--kubeconfig", type=Path, help="generate/check: take Kubernetes types from this cluster's "
                        "OpenAPI (default: start a temporary local API server); apply: the cluster to apply to "
                        "(default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
    p_crds.add_argument("--dir", type=Path, help="apply: the directory of CRD files (default: deploy/crds)")
    args = parser.parse_args(argv)

    if args.cmd in ("up", "down", "status"):
        from . import stack

        if args.cmd == "up":
            print(stack.describe(stack.up(sample=not args.no_sample, ray=args.ray)))
        elif args.cmd == "down":
            stopped = stack.down()
            print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
        else:
            path = stack.state_dir() / "stack.json"
            if not path.exists():
                print("nothing is running (no stack.json)")
                return 1
            print(stack.describe(json.loads(path.read_text())))
        return 0
    if args.cmd == "tail":
        return tail(args)
    if args.cmd == "crds" and args.action == "apply":
        return apply_crds(args.dir, args.kubeconfig)
    if args.cmd == "crds":
        from raybus_testbed import crdgen

        files = crdgen.render(args.kubeconfig)
        if args.action == "generate":
            for path in crdgen.write(files):
                print(f"wrote {path}")
            return 0
        stale = crdgen.drift(files)
        if stale:
            print("out of date (run `make crds`): " + ", ".join(stale), file=sys.stderr)
            return 1
        print("deploy/crds is up to date")
        return 0
    return 2


def apply_crds(directory: Path | None, kubeconfig: Path | None) -> int:
    """Server-side apply every CRD in `directory`'s YAML files; wait until each is Established."""
    from raybus_testbed.controlplane import CRD_DIR, crds_in, install_crds
    from raybus_testbed.kube import Kube

    files = sorted((directory or CRD_DIR).glob("*.yaml"))
    crds = crds_in(files)
    if not crds:
        print(f"raybus crds apply: no CustomResourceDefinition in {directory or CRD_DIR}", file=sys.stderr)
        return 1
    api = Kube.connect(kubeconfig or "")
    try:
        install_crds(api, crds)
    finally:
        api.close()
    for crd in crds:
        print(f"applied {crd['metadata']['name']} (Established)")
    return 0


def nats_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("RAYBUS_NATS_URL"):
        return os.environ["RAYBUS_NATS_URL"]
    from .stack import state_dir

    stack = state_dir() / "stack.json"
    if stack.exists():
        return str(json.loads(stack.read_text())["nats_url"])
    return "nats://127.0.0.1:4222"


def tail(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from raybus_common.bus.follow import Received, follow

    from .tail import concerns, format_line, parse_object, parse_since

    try:
        obj = parse_object(args.object) if args.object else None
        since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    except ValueError as e:
        print(f"raybus tail: {e}", file=sys.stderr)
        return 2
    pattern = "raybus.>" if obj else args.pattern

    def show(r: Received) -> None:
        if obj is not None:
            try:
                payload = json.loads(r.data)
            except ValueError:
                payload = None
            if not concerns(obj, r, payload if isinstance(payload, dict) else None):
                return
        print(format_line(r, as_json=args.json), flush=True)

    try:
        asyncio.run(follow(nats_url(args.nats_url), pattern, show, since=since, follow=not args.no_follow,
                           from_start=obj is not None and since is None))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
