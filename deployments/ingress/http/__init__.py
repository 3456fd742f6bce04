"""The HTTP/WebSocket ingress (FastAPI), sharing the gRPC ingress's sessions and tenants.

``schemas`` (the API's messages), ``export`` (uploads, CSV, frame encodings), ``routes`` (the
FastAPI app), ``websocket`` (``WS /v1/stream``), ``ingress`` (the Serve deployment class that
owns both the NIM gRPC port and the HTTP app). See ``docs/http_api.md``.
"""
