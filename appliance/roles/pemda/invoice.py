"""The 22-digit PBB invoice id of bit 61: an 18-digit NOP and a tax year."""

from dataclasses import dataclass

from appliance.roles.pemda.tables import BILL_KEY
from appliance.errors import InvalidInvoice  # noqa: F401

# Widths of kd_propinsi .. kd_jns_op, then thn_pajak_sppt.
_WIDTHS = (2, 2, 3, 3, 3, 4, 1, 4)
LENGTH = sum(_WIDTHS)


@dataclass(frozen=True)
class InvoiceId:
    text: str

    @classmethod
    def parse(cls, text):
        """The invoice id in `text` (surrounding spaces ignored)."""
        value = (text or '').strip()
        if len(value) != LENGTH or not (value.isascii() and value.isdigit()):
            raise InvalidInvoice('invoice id %r is not %d digits' % (text, LENGTH))
        return cls(value)

    @property
    def nop(self):
        return self.text[:18]

    @property
    def tax_year(self):
        return int(self.text[18:])

    @property
    def prefix(self):
        """Province and regency, e.g. 3271: what routes a request to a pemda."""
        return self.text[:4]

    def key(self):
        """The SISMIOP bill key: column name -> value, in BILL_KEY order."""
        values, start = {}, 0
        for column, width in zip(BILL_KEY, _WIDTHS):
            values[column] = self.text[start:start + width]
            start += width
        return values

    def __str__(self):
        return self.text
