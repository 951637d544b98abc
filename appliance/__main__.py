"""`python -m appliance`: the iso8583d daemon."""
import sys

from appliance import patch  # noqa: F401  (first: gevent monkey-patching)
from appliance.cli.main import main

sys.exit(main())
