"""Settings declared once: key, converter, default and one line of help.

A section's keys are a Schema of Setting objects. The loader converts a
section with it, the configuration reference (docs/configuration.md) is
printed from it, and the code reads defaults from it, so a key's type,
default and meaning are written in one place only. Roles declare their extra
keys (a host module's or a web module's OPTIONS) with the same types.
"""
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional

from appliance.errors import SettingError


class _Required:
    def __repr__(self):
        return 'REQUIRED'


# A default meaning "the key must be set".
REQUIRED = _Required()


@dataclass(frozen=True)
class Setting:
    key: str
    convert: Callable[[str], object]   # raw text -> value; ValueError shows the bad value
    default: object                    # REQUIRED: the key must be set
    help: str                          # one line for the reference
    shown: Optional[str] = None        # the default as the reference shows it,
                                       # when it is computed (e.g. "the host's timeout")

    @property
    def required(self):
        return self.default is REQUIRED

    @property
    def kind(self):
        """What the converter takes, in words (the reference's type column)."""
        return getattr(self.convert, 'kind', self.convert.__name__.strip('_'))

    def parse(self, text):
        """The typed value of `text`; SettingError names this key."""
        if self.required and not text.strip():
            raise SettingError(self.key, 'required key is empty')
        try:
            return self.convert(text)
        except SettingError:
            raise
        except ValueError as e:
            raise SettingError(self.key, str(e)) from None


class Schema(Mapping):
    """The settings of one kind of section, in the order they were declared."""

    def __init__(self, *settings):
        self._settings = {}
        for setting in settings:
            if setting.key in self._settings:
                raise ValueError('setting %s is declared twice' % setting.key)
            self._settings[setting.key] = setting

    def __getitem__(self, key):
        return self._settings[key]

    def __iter__(self):
        return iter(self._settings)

    def __len__(self):
        return len(self._settings)

    def __add__(self, other):
        return Schema(*self.values(), *other.values())

    def __repr__(self):
        return 'Schema(%s)' % ', '.join(self)

    def default(self, key):
        return self._settings[key].default

    def defaults(self):
        """key -> default of every key that has one."""
        return {k: s.default for k, s in self._settings.items() if not s.required}

    def parse(self, raw):
        """Typed values of a section (str -> str): every key, defaults filled
        in. SettingError names an unknown key, a missing one or a bad value."""
        for key in raw:
            if key not in self._settings:
                raise SettingError(key, 'unknown key (known keys: %s)' % ', '.join(sorted(self)))
        values = {}
        for key, setting in self._settings.items():
            if key in raw:
                values[key] = setting.parse(raw[key])
            elif setting.required:
                raise SettingError(key, 'required key is missing')
            else:
                values[key] = setting.default
        return values
