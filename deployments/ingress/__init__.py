"""Ingresses: the transport-neutral stream service (``service``) and its transports (``grpc``)."""
