"""`python -m appliance.client`: patch first, so every socket cooperates."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from appliance.client import main  # noqa: E402

sys.exit(main())
