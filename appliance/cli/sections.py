"""What iso8583d and the seed's commands do with the sections beside the
hosts: [main] (the seed's iso8583-pbb.ini: a biller's tables at its db_url),
and a warning for each section a run reads but leaves alone."""
import sys

from appliance.runtime.config import ConfigError, open_routes, resolve_db_url
from appliance.runtime.registry import lookup


def init_main(settings, demo):
    """Create the tables of [main]'s biller module at its db_url; the line
    saying what was done. ConfigError for a module that keeps no such tables;
    any other exception when the database cannot be opened or written."""
    from appliance.roles.pemda.module import BillerModule, init_tables
    from appliance.store.db import mask_url, open_as_owner
    main = settings.main
    if lookup(main.module).factory is not BillerModule:
        raise ConfigError('module %s keeps no biller tables; [main] names a biller module '
                          '(opensipkd.iso8583.bjb.pbb.bogor_kota, opensipkd.iso8583.bjb.pbb)'
                          % main.module, main.source, 'main', 'module')
    url = resolve_db_url(main.db_url, settings.data_dir)
    db = open_as_owner(url)
    try:
        init_tables(db, demo)
    finally:
        db.close()
    return '[main] %s: SISMIOP and record tables%s ready in %s' % (
        main.module, ' and demo bills' if demo else '', mask_url(url))


# -- sections a command reads but does not act on ----------------------------------

def unused_sections(settings, reads_main):
    """(source, section, why) of the sections a run leaves alone: a
    [module_...] no host uses, and [main] unless the run `reads_main`."""
    used = {h.module for h in settings.hosts}
    found = []
    for section in sorted({s for s, _ in settings.values}):
        source = _section_source(settings, section)
        if section.startswith('module_') and lookup(section[len('module_'):]).name not in used:
            found.append((source, section, 'no host_ section uses this module'))
        elif section == 'main' and not reads_main:
            found.append((source, section, 'only iso8583d --initdb and iso8583_bjb_pbb_initdb '
                                           'read it (to create the tables at its db_url)'))
    return found


def _section_source(settings, section):
    return next(src for (s, _), src in sorted(settings.origin.items()) if s == section)


def warn_unused(settings, prog, reads_main):
    """A warning on stderr for each section this run leaves alone."""
    for source, section, why in unused_sections(settings, reads_main):
        print('%s: warning: %s: [%s] is ignored: %s' % (prog, source, section, why),
              file=sys.stderr)


def warn_open(settings, prog):
    """A warning on stderr for each route open to every address."""
    for source, route in open_routes(settings):
        print('%s: warning: %s: [web_%s] allowed_ip is empty: %s is open to every address '
              '(list the callers, or give the route credentials)'
              % (prog, source, route.name, route.route_path), file=sys.stderr)
