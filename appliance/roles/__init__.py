"""The three roles, a package each: pemda (the biller), bank (teller, journal,
SAF, forwarder) and aggregator (LinkAja). runtime/registry.py names them."""
