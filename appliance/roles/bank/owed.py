"""Reversals owed but not yet in the journal's queue, kept in a local file.

When the journal cannot record a payment's answer, the teller is told the
payment failed, so a reversal is owed. The write that failed may have landed
(the connection broke while committing): then the entry reads `answered` and
the orphan sweep will never reverse it. Until the database takes the
reversal, the promise would live only in memory, and a crash would lose it.
So it is first appended to this file (and fsync'd), then struck out once the
journal has queued it; whatever is left is queued by the next sweep, after a
restart too.

The file is append-only JSON lines: {"owe": entry id, "message", "request"}
and {"settled": entry id}. It is emptied when nothing is owed. Without a path
(tests, tools) the promises are kept in memory only.
"""
import json
import logging
import os

from appliance.iso.message import from_json as loaded, to_json as stored

log = logging.getLogger('iso8583d.journal')


class OwedReversals:
    def __init__(self, path=None):
        self.path = path
        self._owed = {}                  # entry id -> (message, request JSON)
        if path is not None and os.path.exists(path):
            self._read()

    def add(self, entry_id, message, msg):
        """Owe the reversal of `msg` for journal entry `entry_id`. Kept in
        memory first, so the sweep queues it even if the file write fails."""
        request = stored(msg)
        self._owed[entry_id] = (message, request)
        self._append({'owe': entry_id, 'message': message, 'request': request})

    def settled(self, entry_id):
        if self._owed.pop(entry_id, None) is None:
            return
        if self._owed:
            self._append({'settled': entry_id})
        elif self.path is not None:
            with open(self.path, 'w') as f:      # nothing owed: start afresh
                os.fsync(f.fileno())

    def pending(self):
        """[(entry id, message, request Message)] still owed, oldest first."""
        return [(entry_id, message, loaded(request))
                for entry_id, (message, request) in self._owed.items()]

    def __len__(self):
        return len(self._owed)

    def _append(self, record):
        if self.path is None:
            return
        with open(self.path, 'a') as f:
            f.write(json.dumps(record) + '\n')
            f.flush()
            os.fsync(f.fileno())

    def _read(self):
        with open(self.path) as f:
            for number, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                    if 'owe' in record:
                        self._owed[record['owe']] = (record['message'], record['request'])
                    else:
                        self._owed.pop(record['settled'], None)
                except (ValueError, KeyError, TypeError) as e:
                    # A torn last line (crash mid-write): the teller was not
                    # answered yet, so nothing was promised by it.
                    log.error('%s line %d unreadable, skipped: %s', self.path, number, e)
        if self._owed:
            log.warning('%d reversal(s) owed from before the restart, in %s: '
                        'they are queued as soon as the journal takes them',
                        len(self._owed), self.path)
