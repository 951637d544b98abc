"""PBB property-tax billing on a pemda's SISMIOP database (spec §3)."""
