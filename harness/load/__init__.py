"""`harness load`: the suite's cases driven by locust, every conversation judged as in a run.

Two kinds of process. The harness's own (asyncio) brings the environment up,
prepares cases (their setup rows inserted) a little ahead of demand, serves them
to the load generator over loopback HTTP, judges every finished conversation
with the engine and samples the invariants while the load runs (`runner.py`,
`feeder.py`, `server.py`, `invariants.py`, `processes.py`). The load generator
is locust used as a library (`generator.py`), alone or as a master with
workers; it is only ever imported in its own processes, because locust patches
the whole process with gevent on import.
"""
