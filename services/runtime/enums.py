"""Protobuf enum values by their short names, as the platform stores and shows them.

The buf style guide prefixes every value with its enum's name (``PURPOSE_TYPE_WORK_REFERENCE``); the
audit trail, decisions and error messages use the name without it (``WORK_REFERENCE``). One table per
enum, built once at import, instead of slicing strings wherever a name is needed.
"""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper


class ShortNames:
    """Both directions between an enum's values and its names without the prefix."""

    __slots__ = ("_by_name", "_by_value")

    def __init__(self, enum: EnumTypeWrapper) -> None:
        # The zero value is <PREFIX>UNSPECIFIED in every govshare enum (buf's ENUM_ZERO_VALUE_SUFFIX rule).
        prefix = enum.Name(0).removesuffix("UNSPECIFIED")
        self._by_value = {value: name.removeprefix(prefix) for name, value in enum.items()}
        self._by_name = {name: value for value, name in self._by_value.items()}

    def name(self, value: int) -> str:
        """The short name; a value this build does not know stays recognisable as ``UNKNOWN_<n>``."""
        return self._by_value.get(value) or f"UNKNOWN_{value}"

    def value(self, name: str) -> int:
        """The value of a short name; 0 (UNSPECIFIED) for a name this build does not know."""
        return self._by_name.get(name, 0)

    def known(self, value: int) -> bool:
        return value in self._by_value
