"""Log lines that no field can forge: control characters escaped in one place.

A peer or an HTTP client chooses some of what is logged (bit 61 in the
forwarder's and the biller's lines, a request path, a decode error), and a
value holding a newline would write a whole line of its choosing into the log
that disputes are settled from. Every record's message is escaped as it is
formatted: line breaks and the other control characters become `\\n`, `\\r`,
`\\xNN` (a tab stays), whichever line logs them and with whatever `%` format.
A message of printable text, every normal line, is left as it is. Tracebacks
(added by the formatter after the message) keep their lines.
"""
import logging

# C0 controls but tab, DEL, and what some viewers take as a line break.
_ESCAPES = {code: '\\x%02x' % code for code in list(range(0x20)) + [0x7f, 0x85]}
_ESCAPES.update({ord('\n'): '\\n', ord('\r'): '\\r', 0x2028: '\\u2028', 0x2029: '\\u2029'})
del _ESCAPES[ord('\t')]


def escape(text):
    """`text` with control characters and line separators escaped."""
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


class EscapedRecord(logging.LogRecord):
    escape_message = staticmethod(escape)     # for appliance.loglines

    def getMessage(self):
        return escape(super().getMessage())


def install():
    """Make every log record escape its message (idempotent)."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(EscapedRecord)
