"""Go's text, as KubeRay's output shows it: what a Go program prints for a value, where Raybus
must print the same bytes (a command line, a JSON argument, a name).

| here | Go |
|---|---|
| `quote` | `strconv.Quote` |
| `marshal` | `encoding/json.Marshal` of a JSON-like value: map keys sorted, no spaces, `<`, `>`, `&`, U+2028/9 escaped, floats as Go prints them |
| `format_f32` | `fmt.Sprintf("%f", float32(x))` |
| `trim_space` | `strings.TrimSpace` |
| `yaml_value`, `yaml_to_json` | `sigs.k8s.io/yaml`'s `Unmarshal` into `any` / `YAMLToJSON`: the first YAML document read with go-yaml v2's rules (`y`, `on`, `off` are booleans; `1e3`, `0x1f`, `0o17`, `017` numbers; no base-60 numbers; timestamps stay strings), keys made strings |
| `check_name`, `check_label` | KubeRay `utils.CheckName`, `utils.CheckLabel` |
| `parse_duration`, `duration` | `time.ParseDuration` (to seconds); `time.Duration.String()` (`%v`) at microsecond precision |
| `DNS1035_LABEL`, `DNS1035_MESSAGE` | apimachinery's `IsDNS1035Label`: its pattern, and its message as KubeRay prints it (`%v` of the []string) |

Not here: `%v` of times (each controller's texts module). Pure: the standard
library and PyYAML only.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml

# --- strconv.Quote ---------------------------------------------------------------------------
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                  '"': '\\"', "\\": "\\\\"}


def quote(text: str) -> str:
    """Go's `strconv.Quote`: double quotes; printable runes (Go's `unicode.IsPrint`, which is
    Python's `isprintable`) as they are; the rest as `\\n`, `\\x1b`, `\\u00a0`, `\\U0001f600`."""
    out = ['"']
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            ch = "\ufffd"  # what Go's JSON decoding made of a lone surrogate
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# --- encoding/json ---------------------------------------------------------------------------
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    """Go's float64 encoder: shortest digits, fixed notation unless |f| < 1e-6 or >= 1e21."""
    if math.isinf(f) or math.isnan(f):
        raise ValueError(f"json: unsupported value: {f}")
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        text = repr(f)  # Python's e-form here is Go's: d[.ddd]e±dd
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    return format(Decimal(repr(f)).normalize(), "f")


def marshal(value: Any) -> str:
    """Go's `json.Marshal` of a JSON-like value (dicts with string keys, lists, strings, ints,
    floats, booleans, None); ValueError for what Go refuses (NaN, infinities, other types)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_json_string(str(k))}:{marshal(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    raise ValueError(f"json: unsupported type: {type(value).__name__}")


# --- fmt and strings -------------------------------------------------------------------------
def format_f32(x: float) -> str:
    """`fmt.Sprintf("%f", v)` of a float32 `v`: `x` rounded to float32 first, then six decimals
    (both round the exact binary value half to even, so the digits agree)."""
    try:
        x = struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:f}"


# Go's unicode.IsSpace: Python's isspace minus the four ASCII separators \x1c-\x1f.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


def trim_space(text: str) -> str:
    """Go's `strings.TrimSpace`."""
    return text.strip(_GO_SPACE)


# --- sigs.k8s.io/yaml over go-yaml v2 ---------------------------------------------------------
_PLAIN = "tag:raybus.io,2026:go-plain"  # a plain (unquoted, untagged) scalar, resolved by `_go_scalar`
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _go_int(text: str, signed: bool) -> int | None:
    """Go's `strconv.ParseInt(text, 0, 64)` (`signed`) or `ParseUint(text, 0, 64)`."""
    sign, body = (text[0], text[1:]) if signed and text[:1] in ("+", "-") else ("", text)
    base, digits = 10, body
    if body[:2] in ("0x", "0X"):
        base, digits = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, digits = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, digits = 2, body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, digits = 8, body[1:]
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    value = -int(digits, base) if sign == "-" else int(digits, base)
    low, high = (-(2**63), 2**63 - 1) if signed else (0, 2**64 - 1)
    return value if low <= value <= high else None


def _go_scalar(text: str) -> Any:
    """go-yaml v2's `resolve` of a plain scalar, as decoded into `any`."""
    if text in _WORDS:
        return _WORDS[text]
    if text[:1] == "." and _DOT_FLOAT.fullmatch(text):
        return float(text)
    if text[:1] in tuple("+-0123456789"):
        plain = text.replace("_", "")
        for signed in (True, False):
            number = _go_int(plain, signed)
            if number is not None:
                return number
        if _YAML_FLOAT.fullmatch(plain) and not math.isinf(float(plain)):
            return float(plain)
    return text  # a timestamp, too: decoded into `any`, go-yaml v2 keeps its text


class _GoLoader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml v2's resolution of plain scalars."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return "tag:yaml.org,2002:merge" if value == "<<" else _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys made strings as they are read, so `1` and `true` stay two keys."""
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            out[_json_key(key)] = self.construct_object(value_node, deep=deep)
        return out


def _construct_plain(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return _go_scalar(str(loader.construct_scalar(node)))


def _construct_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return str(loader.construct_scalar(node))


_GoLoader.add_constructor(_PLAIN, _construct_plain)
_GoLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml's key conversion (a float key: Go's shortest form, near enough)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str | int):
        return str(key)
    if isinstance(key, float):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(key, ".nan" if math.isnan(key) else f"{key:g}")
    raise ValueError(f"unsupported map key of type: {type(key).__name__}, key: {key!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):  # !!binary: Go keeps the decoded bytes as a string
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        raise ValueError(f"json: unsupported value: {value}")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"unsupported YAML value of type {type(value).__name__}")


def yaml_value(text: str) -> Any:
    """The first YAML document of `text` as sigs.k8s.io/yaml makes it JSON-ready (None when
    there is none); ValueError with the parser's message when it cannot."""
    loader = _GoLoader(text)
    try:
        if not loader.check_node():
            return None
        return _jsonable(loader.construct_document(loader.get_node()))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"yaml: {where}{e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ValueError(f"yaml: {e}") from None
    finally:
        loader.dispose()


def yaml_to_json(text: str) -> str:
    """sigs.k8s.io/yaml's `YAMLToJSON`: `marshal(yaml_value(text))`."""
    return marshal(yaml_value(text))


# --- KubeRay's name fitting ------------------------------------------------------------------
# k8s.io/apimachinery v0.36 `IsDNS1035Label`: the pattern, and the message as KubeRay prints it.
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1035_MESSAGE = ("[a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                   "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                   "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]")

_GO_ASCII_PUNCT = set("!\"#%&'()*,-./:;?@[\\]_{}")  # Go's unicode.IsPunct over ASCII


def check_name(name: str) -> str:
    """KubeRay `CheckName`: the last 50 characters; a leading digit, then a leading punctuation
    mark, becomes `r`."""
    name = name[-50:]
    if name[:1].isdecimal():
        name = "r" + name[1:]
    if name[:1] in _GO_ASCII_PUNCT:
        name = "r" + name[1:]
    return name


def check_label(value: str) -> str:
    """KubeRay `CheckLabel`: the last 63 characters; a leading punctuation mark becomes `r`."""
    value = value[-63:]
    if value[:1] in _GO_ASCII_PUNCT:
        value = "r" + value[1:]
    return value


# --- time.ParseDuration -------------------------------------------------------------------------
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")


def parse_duration(text: str) -> float:
    """Go's `time.ParseDuration` in seconds: a signed sequence of decimal numbers, each with a
    unit (`300ms`, `-1.5h`, `2h45m`); "0" alone needs none. ValueError with Go's message."""
    invalid = ValueError(f"time: invalid duration {quote(text)}")
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    if not body:
        raise invalid
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None and re.fullmatch(r"[0-9.]+", body[pos:]):
            raise ValueError(f"time: missing unit in duration {quote(text)}")
        if m is None or m.group(1) in ("", "."):
            raise invalid
        unit = m.group(2)
        if unit not in _DURATION_UNITS:
            raise ValueError(f"time: unknown unit {quote(unit)} in duration {quote(text)}")
        total += float(m.group(1)) * _DURATION_UNITS[unit]
        pos = m.end()
    return -total if text[:1] == "-" else total


def duration(seconds: float) -> str:
    """Go's `time.Duration.String()` at microsecond precision: `5m0s`, `1h2m3.5s`, `1.5s`,
    `750ms`, `0s`."""
    micros = round(seconds * 1_000_000)
    if micros == 0:
        return "0s"
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    if micros < 1_000_000:  # under a second Go picks the unit: ms or µs
        unit, size = ("ms", 1000) if micros >= 1000 else ("µs", 1)
        whole, rest = divmod(micros, size)
        fraction = f".{rest:03d}".rstrip("0") if size > 1 and rest else ""
        return f"{sign}{whole}{fraction}{unit}"
    total, frac = divmod(micros, 1_000_000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs}" + (f".{frac:06d}".rstrip("0") if frac else "") + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text
