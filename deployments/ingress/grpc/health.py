"""``grpc.health.v1.Health`` (Check, Watch) without the grpcio-health-checking package.

The two messages are built at import from a descriptor (the standard ``health.proto``), so the
server needs no generated code; clients (tests, NVIDIA's sample ``health_check``) use the
standard wire format: ``HealthCheckRequest {string service = 1}``,
``HealthCheckResponse {ServingStatus status = 1}`` with SERVING = 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "grpc.health.v1.Health"
UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = 0, 1, 2, 3


def _build() -> tuple[type, type]:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="a2f_cluster/grpc_health_v1.proto", package="grpc.health.v1", syntax="proto3"
    )
    req = fdp.message_type.add(name="HealthCheckRequest")
    req.field.add(name="service", number=1, type=9, label=1)  # string
    resp = fdp.message_type.add(name="HealthCheckResponse")
    enum = resp.enum_type.add(name="ServingStatus")
    for name, number in (("UNKNOWN", 0), ("SERVING", 1), ("NOT_SERVING", 2)):
        enum.value.add(name=name, number=number)
    enum.value.add(name="SERVICE_UNKNOWN", number=3)
    resp.field.add(
        name="status", number=1, type=14, label=1,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
    )  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")),
        get(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")),
    )


HealthCheckRequest, HealthCheckResponse = _build()


def handler(status: Callable[[str], int]) -> grpc.GenericRpcHandler:
    """The Health service; ``status(service_name)`` gives the serving status to report."""

    async def check(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return HealthCheckResponse(status=status(request.service))

    async def watch(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        last = None
        while True:
            current = status(request.service)
            if current != last:
                yield HealthCheckResponse(status=current)
                last = current
            await asyncio.sleep(1.0)

    rpcs = {
        "Check": grpc.unary_unary_rpc_method_handler(
            check, HealthCheckRequest.FromString, HealthCheckResponse.SerializeToString
        ),
        "Watch": grpc.unary_stream_rpc_method_handler(
            watch, HealthCheckRequest.FromString, HealthCheckResponse.SerializeToString
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, rpcs)
