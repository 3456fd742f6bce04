#!/bin/sh
# Several Ray nodes on this host: start them, deploy the app across them
# (cluster/multinode_local.yaml), run the autoscaling ramp with replicas sampled, stop
# everything. Extra arguments go to `a2f cluster demo` (e.g. --levels 1,8,16,2
# --kill-node cpu1 --kill-at-s 20). Thin wrapper: the logic is deployments/cli/cluster_cmd.py.
# See docs/scale_out.md.
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python -m deployments.cli.cluster_cmd cluster demo "$@"
