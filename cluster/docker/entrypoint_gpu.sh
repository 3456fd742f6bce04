#!/usr/bin/env bash
# GPU node entrypoint (cluster/docker/Dockerfile.gpu): TensorRT engines, tritonserver, then Ray.
#
#   entrypoint_gpu.sh                engines + Triton, then Ray: KubeRay's generated command
#                                    ($KUBERAY_GEN_RAY_START_CMD, with the RayService annotation
#                                    ray.io/overwrite-container-cmd) or `ray start` from A2F_RAY_*
#   entrypoint_gpu.sh CMD [ARG...]   engines + Triton, then exec CMD (the Ray launcher runs bash)
#   entrypoint_gpu.sh prepare        only the repository and the engines, then exit
#   entrypoint_gpu.sh wait-triton    only wait until this node's Triton is ready
#
# Engines: `a2f models build-engines` keeps each plan under $A2F_ENGINE_CACHE, keyed by GPU,
# compute capability, TensorRT version, precision and batch profile (docs/triton.md). An empty
# cache (first start on a fresh volume, or a new GPU kind / TensorRT / ONNX) means a full build,
# minutes per network; a warm cache only re-links the plans. The model repository is derived
# (config.pbtxt + links) and rebuilt on every start. Never run on the project's CPU machines:
# there build-engines exits 3 (no TensorRT, no GPU) and so does this script.
set -euo pipefail

A2F_HOME=${A2F_HOME:-/opt/a2f}
A2F_PACKAGES=${A2F_PACKAGES:-"$A2F_HOME/models/ada_v2.3 $A2F_HOME/models/ada_multi_v3.0"}
A2F_ENGINE_CACHE=${A2F_ENGINE_CACHE:-/var/cache/a2f/engines}
A2F_REPOSITORY=${A2F_REPOSITORY:-/tmp/a2f/model_repository}
A2F_PRECISION=${A2F_PRECISION:-fp16}
A2F_METRICS_PORT=${A2F_METRICS_PORT:-9464}
A2F_RAY_ADDRESS=${A2F_RAY_ADDRESS:-}
A2F_RAY_RESOURCES=${A2F_RAY_RESOURCES:-'{"a2f_triton_node": 100}'}
TRITONSERVER=${TRITONSERVER:-/opt/tritonserver/bin/tritonserver}
TRITON_GRPC_PORT=${TRITON_GRPC_PORT:-8001}
TRITON_HTTP_PORT=${TRITON_HTTP_PORT:-8010}
TRITON_METRICS_PORT=${TRITON_METRICS_PORT:-8002}
TRITON_READY_TIMEOUT_S=${TRITON_READY_TIMEOUT_S:-1800}
TRITON_LOG=${TRITON_LOG:-/tmp/a2f/tritonserver.log}
TRITON_PID=${TRITON_PID:-/tmp/a2f/tritonserver.pid}

log() { printf '%s entrypoint_gpu: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

prepare() {
  local packages
  read -r -a packages <<<"$A2F_PACKAGES"
  mkdir -p "$A2F_ENGINE_CACHE" "$A2F_REPOSITORY"
  a2f models build-repo --target gpu --gpu-backend tensorrt_plan --precision "$A2F_PRECISION" \
    --force --packages "${packages[@]}" -o "$A2F_REPOSITORY"
  if [ -z "$(find "$A2F_ENGINE_CACHE" -name model.plan -print -quit)" ]; then
    log "engine cache $A2F_ENGINE_CACHE is empty: building TensorRT engines (minutes per network)"
  else
    log "engine cache $A2F_ENGINE_CACHE is warm: reusing plans that match this GPU/TensorRT/ONNX"
  fi
  # One builder at a time per cache: the pods of a group may share a ReadWriteMany volume.
  exec 9>"$A2F_ENGINE_CACHE/.build.lock"
  flock 9
  a2f models build-engines --precision "$A2F_PRECISION" --cache-dir "$A2F_ENGINE_CACHE" \
    --repository "$A2F_REPOSITORY" --packages "${packages[@]}"
  flock -u 9
  exec 9>&-
}

start_triton() {
  mkdir -p "$(dirname "$TRITON_LOG")" "$(dirname "$TRITON_PID")"
  # gRPC/HTTP on loopback (the stages of this node are the only clients); metrics on all
  # interfaces for Prometheus.
  "$TRITONSERVER" --model-repository="$A2F_REPOSITORY" \
    --grpc-address=127.0.0.1 --grpc-port="$TRITON_GRPC_PORT" \
    --http-address=127.0.0.1 --http-port="$TRITON_HTTP_PORT" \
    --metrics-address=0.0.0.0 --metrics-port="$TRITON_METRICS_PORT" \
    --log-verbose=0 >>"$TRITON_LOG" 2>&1 &
  echo $! >"$TRITON_PID"
  log "tritonserver pid $(cat "$TRITON_PID"), log $TRITON_LOG"
}

wait_triton() {
  local deadline=$((SECONDS + TRITON_READY_TIMEOUT_S))
  until curl -fsS -o /dev/null "http://127.0.0.1:$TRITON_HTTP_PORT/v2/health/ready"; do
    if [ -f "$TRITON_PID" ] && ! kill -0 "$(cat "$TRITON_PID")" 2>/dev/null; then
      log "tritonserver exited; last log lines:"
      tail -n 40 "$TRITON_LOG" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "tritonserver not ready after ${TRITON_READY_TIMEOUT_S}s"
      return 1
    fi
    sleep 2
  done
  log "tritonserver ready on 127.0.0.1:$TRITON_GRPC_PORT"
}

start_ray() {
  ulimit -n 65536 2>/dev/null || log "could not raise the open-file limit"
  if [ -n "${KUBERAY_GEN_RAY_START_CMD:-}" ]; then
    # KubeRay's own command (address, resources, ports from rayStartParams; includes --block).
    exec bash -c "exec $KUBERAY_GEN_RAY_START_CMD"
  fi
  local cmd=(ray start --block --disable-usage-stats --metrics-export-port="$A2F_METRICS_PORT"
    --resources="$A2F_RAY_RESOURCES")
  if [ -n "$A2F_RAY_ADDRESS" ]; then
    cmd+=(--address="$A2F_RAY_ADDRESS")
  else
    cmd+=(--head --dashboard-host=0.0.0.0)
  fi
  exec "${cmd[@]}"
}

case "${1:-}" in
  prepare) prepare ;;
  wait-triton) wait_triton ;;
  *)
    prepare
    start_triton
    wait_triton
    if [ "$#" -gt 0 ]; then exec "$@"; fi
    start_ray
    ;;
esac
