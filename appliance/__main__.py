"""`python -m appliance`: the iso8583d daemon."""
import sys

from . import patch  # noqa: F401  (first: gevent monkey-patching)
from .cli import main

sys.exit(main())
