"""The NIM-compatible gRPC ingress: a plain ``grpc.aio`` server inside one Serve deployment.

``convert`` (NIM protobuf <-> service types), ``health`` (``grpc.health.v1`` without extra
packages), ``servicer`` (ProcessAudioStream, GetConfigs), ``server`` (the deployment class that
owns the port and forwards to the stages through handles).
"""
