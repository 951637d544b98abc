"""Shared pytest fixtures, one module per concept under tests/fixtures/:

- fixtures.web: a fake host gateway and a served teller app (web face)
- fixtures.faces: fake JSON-RPC teller and LinkAja faces (iso8583d-client)
- fixtures.databases: SQLite files and isolated PostgreSQL schemas

pytest puts tests/ on sys.path (rootdir conftest, no __init__.py), so the
modules import as the `fixtures` package."""

pytest_plugins = ['fixtures.web', 'fixtures.faces', 'fixtures.databases']
