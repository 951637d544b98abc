"""Roles: what `iso8583d --role NAME` runs with no configuration (a preset),
how it initialises its database, and the host modules it brings."""
from . import aggregator, bank, pemda

ROLES = {'bank': bank, 'pemda': pemda, 'aggregator': aggregator}
