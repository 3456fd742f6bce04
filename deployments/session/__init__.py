"""Per-stream sessions and the tick scheduler of an ingress replica.

``state`` (the pure session state machine), ``records`` (what crosses a hop), ``windowing``
(window queues and segments), ``pacing`` (output pacing, input-rate policing), ``handle``
(opening a session from a header), ``catalog`` (served models), ``ticker`` (the tick loop with
one batched call per stage per tick, and retries). Only ``ticker`` and ``handle`` use asyncio;
nothing here imports ray.
"""
