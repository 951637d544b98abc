"""The codes of the BJB PBB link in one place: MTIs, processing codes
(bit 3), network management functions (bit 70) and response codes (bit 39).
docs/protocol.md ("MTIs", "Response codes") says where each comes from."""

# MTIs, and the MTI that answers each request.
FINANCIAL = '0200'
REVERSAL = '0400'
REVERSAL_REPEAT = '0401'
NETWORK = '0800'
REVERSAL_MTIS = (REVERSAL, REVERSAL_REPEAT)
RESPONSE_MTI = {FINANCIAL: '0210', REVERSAL: '0410', REVERSAL_REPEAT: '0411',
                NETWORK: '0810'}
MTI_NAMES = {
    '0200': 'financial request', '0210': 'financial response',
    '0400': 'reversal request', '0401': 'reversal request, repeated',
    '0410': 'reversal response', '0411': 'reversal response, repeated',
    '0800': 'network management request', '0810': 'network management response',
}

# Processing codes (bit 3).
INQUIRY = '341019'
PAYMENT = '541019'
PROCESSING_CODES = {INQUIRY: 'PBB inquiry', PAYMENT: 'PBB payment'}

# Network management functions (bit 70).
ECHO = '301'
SIGN_ON = '001'
SIGN_OFF = '002'
FUNCTIONS = {ECHO: 'echo', SIGN_ON: 'sign-on', SIGN_OFF: 'sign-off'}

# Response codes (bit 39).
OK = '00'
INVALID_NUMBER = '33'
AMOUNT_DIFFERS = '51'
ALREADY_PAID = '54'
NOT_FOUND = '55'
OTHER_ERROR = '76'
UNAVAILABLE = '91'
RESPONSE_CODES = {OK: 'OK', INVALID_NUMBER: 'invalid number',
                  AMOUNT_DIFFERS: 'amount differs from the bill',
                  ALREADY_PAID: 'already paid / nothing to reverse', NOT_FOUND: 'not found',
                  OTHER_ERROR: 'other error', UNAVAILABLE: 'link down'}
# What a reversal's answer may say when there was nothing (left) to reverse.
NOTHING_TO_REVERSE = (ALREADY_PAID, NOT_FOUND)
# The pemda's refusal of a reversal that matches no live payment, per case
# (docs/protocol.md, "Reversal"). A bank's SAF takes 54/55 twice as final and
# retries 51, which only a reversal naming another amount gets.
REVERSAL_NOT_PAID = ALREADY_PAID          # the bill is not paid, no payment has the NTB
REVERSAL_UNKNOWN_NTB = NOT_FOUND          # the bill is paid, but under another NTB
REVERSAL_AMOUNT_DIFFERS = AMOUNT_DIFFERS  # bit 4 is not the amount that payment paid
REVERSAL_OTHER_SOURCE = NOT_FOUND         # paid at another kd_tp, channel or bank
REVERSAL_SUPERSEDED = NOT_FOUND           # its STAN's attempt was resent and answered 00 later
