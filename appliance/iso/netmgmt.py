"""Network management (0800/0810): echo, sign-on, sign-off."""
import time

from appliance.iso.message import COPY_BITS, Message
from appliance.iso.codes import ECHO, FUNCTIONS, OK, OTHER_ERROR, SIGN_OFF, SIGN_ON  # noqa: F401


def transmission_time(now=None):
    """Bit 7, MMDDhhmmss in local time."""
    return time.strftime('%m%d%H%M%S', time.localtime(now))


def request(function, stan, now=None):
    return Message('0800', {7: transmission_time(now), 11: stan, 70: function})


def answer(req):
    """0810 for an 0800: 39 = 00 for a known function, 76 otherwise."""
    reply = req.reply(copy=(7, 11, 70))
    reply[39] = OK if req.get(70) in FUNCTIONS else OTHER_ERROR
    return reply


def error_reply(req):
    """The answer to a request that failed inside this appliance."""
    reply = req.reply(copy=COPY_BITS + (70,))
    reply[39] = OTHER_ERROR
    return reply
