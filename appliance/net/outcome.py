"""One exchange on a host's link, and what came of it.

Every caller of a link (the teller, LinkAja, the forwarder) needs the same
five answers to "what happened to my request": answered, not sent, link
down, timeout, lost. `exchange` turns the link's exceptions into an
`Outcome`; the caller decides what each means for its own peer.
"""
from collections import namedtuple

from appliance.errors import AnswerLost, LinkDown, LinkError, RequestTimeout

ANSWERED = 'answered'
LINK_DOWN = 'link down'     # nothing sent: the link was down
NOT_SENT = 'not sent'       # nothing sent: too many in flight, STAN in flight
TIMEOUT = 'timeout'         # sent, no answer in time
LOST = 'lost'               # sent, the link closed before the answer came


class Outcome(namedtuple('Outcome', 'kind answer error')):
    """`answer`: the answering Message (ANSWERED only); `error`: the link's
    exception (every other kind), whose text names the host."""

    @property
    def answered(self):
        return self.kind == ANSWERED

    @property
    def unknown(self):
        """Sent and not answered: the peer may or may not have acted on it."""
        return self.kind in (TIMEOUT, LOST)


def exchange(link, msg, timeout):
    """Send `msg` on `link` (anything with send(msg, timeout)); the Outcome.
    Exceptions that are not link errors (a stop's GreenletExit, a bug) pass."""
    try:
        return Outcome(ANSWERED, link.send(msg, timeout), None)
    except LinkDown as e:
        return Outcome(LINK_DOWN, None, e)
    except AnswerLost as e:
        return Outcome(LOST, None, e)
    except RequestTimeout as e:
        return Outcome(TIMEOUT, None, e)
    except LinkError as e:
        return Outcome(NOT_SENT, None, e)
