"""Load testing of the A2F cluster through its public APIs (a client only).

* :mod:`loadtest.generator`: N concurrent NIM gRPC streams of real speech (real time or burst);
* :mod:`loadtest.accounting`: per-stream frame accounting, latency math, SLO evaluation (pure);
* :mod:`loadtest.scenarios`: steady, burst, sweep (until the SLO breaks) and soak;
* :mod:`loadtest.probes`: CPU per process group of the host, the server's Prometheus counters;
* :mod:`loadtest.report`: results folders (Markdown, JSON, CSV, PNG) and their comparison.

This package never imports ``deployments``: it talks to the service as a client (docs/loadtest.md).
"""
