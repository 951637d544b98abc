"""Role aggregator: offers LinkAja's HTTP format and talks ISO8583 to the bank.

With no configuration it connects to the bank on 127.0.0.1:10001.
"""

PRESET = """
"""
