"""Entry point of the frozen iso8583d binary (PyInstaller one-file build).

One executable serves both commands; it picks by the name it was started as
(argv[0]'s basename), so /usr/bin/iso8583d-client can be a symlink to
/usr/bin/iso8583d:

  iso8583d ...          appliance.cli.main.main (the daemon)
  iso8583d-client ...   appliance.cli.main.client_main (the teller/stress client)
  iso8583d client ...   the same client, for when the symlink is missing
                        (a subcommand of appliance.cli.main.main)
  iso8583, iso8583_web_client, ...
                        the seed's command names (appliance.cli.seed.COMMANDS)

gevent's monkey-patching (appliance.patch) is the first thing that runs.
"""
from appliance import patch  # noqa: F401  (first: gevent monkey-patching)

import os
import sys

from appliance.cli import main as cli
from appliance.cli.seed import COMMANDS as SEED_COMMANDS

CLIENT_NAME = 'iso8583d-client'


def run(argv):
    name = os.path.basename(argv[0]) if argv else ''
    if name in SEED_COMMANDS:
        return SEED_COMMANDS[name](argv[1:])
    if name.startswith(CLIENT_NAME):
        return cli.client_main(argv[1:])
    return cli.main(argv[1:])


if __name__ == '__main__':
    sys.exit(run(sys.argv))
