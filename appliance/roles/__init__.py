"""Roles: what `iso8583d --role NAME` runs with no configuration (a preset),
how it initialises its database, and the host modules it brings."""
from appliance.roles.aggregator import banklink as aggregator
from appliance.roles.bank import peer as bank
from appliance.roles.pemda import module as pemda

ROLES = {'bank': bank, 'pemda': pemda, 'aggregator': aggregator}
