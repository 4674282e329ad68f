"""Kubernetes `resource.Quantity`: parsed exactly (a fraction), added, multiplied, and printed in
canonical form the way Go's apimachinery prints it (`1500m`, `2Gi`, `1e3`). Pure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))((?:[KMGTPE]i)|[eE][+-]?\d+|[numkMGTPE]?)")


@dataclass(frozen=True)
class Quantity:
    """A Kubernetes resource.Quantity: an exact value and the format of its first non-zero
    operand (BinarySI for Ki.., DecimalSI otherwise), printed in canonical form like Go's."""

    value: Fraction
    fmt: str

    @classmethod
    def parse(cls, raw: object) -> Quantity:
        m = _QUANTITY.fullmatch(str(raw).strip())
        if m is None:
            raise ValueError(f"not a quantity: {raw!r}")
        number, suffix = Fraction(m.group(1)), m.group(2)
        if suffix in _BINARY:
            return cls(number * 2 ** _BINARY[suffix], "BinarySI")
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            return cls(number * Fraction(10) ** int(suffix[1:]), "DecimalExponent")
        nano = math.ceil(number * Fraction(10) ** _DECIMAL[suffix] * 10**9)  # Go rounds up to 1n
        return cls(Fraction(nano, 10**9), "DecimalSI")

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.fmt if self.value else other.fmt)

    def __mul__(self, times: int) -> Quantity:
        return Quantity(self.value * times, self.fmt)

    def __str__(self) -> str:
        if self.value == 0:
            return "0"
        if self.fmt == "BinarySI" and abs(self.value) >= 1024 and self.value.denominator == 1:
            number, power = int(self.value), 0
            while number % 1024 == 0 and power < 60:
                number, power = number // 1024, power + 10
            return f"{number}{next(k for k, v in _BINARY.items() if v == power) if power else ''}"
        number, exp = math.ceil(self.value * 10**9), -9
        while number % 10 == 0:
            number, exp = number // 10, exp + 1
        number, exp = number * 10 ** (exp % 3), exp - exp % 3
        if self.fmt == "DecimalExponent":
            return f"{number}e{exp}" if exp else str(number)
        suffix = next((k for k, v in _DECIMAL.items() if v == exp), None)
        return f"{number}{suffix}" if suffix is not None else f"{number}e{exp}"
