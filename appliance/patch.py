"""Monkey-patching, imported before anything else: gevent first, then a gevent
wait callback for psycopg2 so PostgreSQL queries yield to other greenlets."""
from gevent import monkey

monkey.patch_all()

from appliance.store.db import patch_psycopg  # noqa: E402  (must follow patch_all)

patch_psycopg()
