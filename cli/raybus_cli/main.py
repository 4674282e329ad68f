"""The `raybus` command: `up`, `down`, `status` for the local stack; `crds generate|check`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raybus", description="Raybus: Ray on Kubernetes over NATS JetStream")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start control plane, NATS and every service locally (no Docker)")
    p_up.add_argument("--no-sample", action="store_true", help="do not apply the sample RayCluster")
    sub.add_parser("down", help="stop everything `raybus up` started")
    sub.add_parser("status", help="show what `raybus up` started, and where")
    p_crds = sub.add_parser("crds", help="generate or check deploy/crds/ from the models")
    p_crds.add_argument("action", choices=["generate", "check"])
    p_crds.add_argument("--kubeconfig", type=Path, help="take Kubernetes types from this cluster's OpenAPI "
                        "(default: start a temporary local API server)")
    args = parser.parse_args(argv)

    if args.cmd in ("up", "down", "status"):
        from . import stack

        if args.cmd == "up":
            print(stack.describe(stack.up(sample=not args.no_sample)))
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


if __name__ == "__main__":
    raise SystemExit(main())
