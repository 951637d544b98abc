"""Shared pytest fixtures, one module per concept under tests/fixtures/:

- fixtures.web: a fake host gateway and a served teller app (web face)
- fixtures.faces: fake JSON-RPC teller and LinkAja faces (iso8583d-client)
- fixtures.databases: SQLite files and isolated PostgreSQL schemas

and the helpers tests import by name:

- fixtures.daemon: real iso8583d processes (Daemon, run_cli, seed_config,
  free_port)
- fixtures.peers: a fake ISO8583 peer on a loopback socket (FakePeer)
- fixtures.ports: ports reserved for this run, never handed to two daemons,
  nor to two pytest processes on the machine (read its docstring)

pytest puts tests/ on sys.path (rootdir conftest, no __init__.py), so the
modules import as the `fixtures` package."""

pytest_plugins = ['fixtures.web', 'fixtures.faces', 'fixtures.databases']
