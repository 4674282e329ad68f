"""`raybus_common.gotext`: every expected value below is what Go printed for the same input
(`strconv.Quote`, `fmt.Sprintf("%f", float32)`, `strings.TrimSpace`, `encoding/json.Marshal`,
`sigs.k8s.io/yaml.YAMLToJSON` v1.6.0 over go-yaml v2), typed in as table rows."""

from __future__ import annotations

import pytest

from raybus_common import gotext


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("abc", '"abc"', id="plain"),
    pytest.param("tab\there\nnl\r\x00\x1b\x7f", r'"tab\there\nnl\r\x00\x1b\x7f"', id="controls"),
    pytest.param("é 中文 😀", '"é 中文 😀"', id="printable-unicode"),
    pytest.param("\u00a0nbsp\u00ad soft\u200b\ufeff", r'"\u00a0nbsp\u00ad soft\u200b\ufeff"', id="unprintable-unicode"),
    pytest.param("\v\a\b\f\\\"", r'"\v\a\b\f\\\""', id="named-escapes"),
    pytest.param("\U000e0001tag", r'"\U000e0001tag"', id="astral-unprintable"),
])
def test_quote(text: str, expected: str) -> None:
    assert gotext.quote(text) == expected


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(1, "1.000000", id="one"),
    pytest.param(0.5, "0.500000", id="half"),
    pytest.param(0.1, "0.100000", id="tenth"),
    pytest.param(1.0000005, "1.000000", id="float32-rounding"),
    pytest.param(123456.789, "123456.789062", id="float32-digits"),
    pytest.param(3.4e38, "339999995214436424907732413799364296704.000000", id="large"),
    pytest.param(1e-7, "0.000000", id="tiny"),
])
def test_format_f32(value: float, expected: str) -> None:
    assert gotext.format_f32(value) == expected


def test_trim_space_is_gos() -> None:
    assert gotext.trim_space(" \t\x1c x \u3000\x85\xa0") == "\x1c x"


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param({"b": "2", "a": "<&>", "é": "\u2028"}, r'{"a":"\u003c\u0026\u003e","b":"2","é":"\u2028"}',
                 id="sorted-html-escaped"),
    pytest.param({"x": [1, 1.0, 0.000001, 1e-7, 1e21, 1e20, -0.0, True, None, "\b\x01"]},
                 r'{"x":[1,1,0.000001,1e-7,1e+21,100000000000000000000,-0,true,null,"\b\u0001"]}', id="numbers"),
])
def test_marshal(value: object, expected: str) -> None:
    assert gotext.marshal(value) == expected


@pytest.mark.parametrize("value", [
    pytest.param(float("nan"), id="nan"),
    pytest.param({"a": float("inf")}, id="inf"),
    pytest.param({1, 2}, id="set"),
])
def test_marshal_refuses_what_go_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="json: unsupported"):
        gotext.marshal(value)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("test: test", '{"test":"test"}', id="kuberay-test"),
    pytest.param('working_dir: "https://x"\npip: ["python-multipart==0.0.6"]\n',
                 '{"pip":["python-multipart==0.0.6"],"working_dir":"https://x"}', id="sorted"),
    pytest.param("a: y\nb: n\nc: yes\nd: off\ne: ~\nf: \ng: null",
                 '{"a":true,"b":false,"c":true,"d":false,"e":null,"f":null,"g":null}', id="yaml11-words"),
    pytest.param("n: 1e3\nm: 0x1F\no: 0o17\np: 017\nq: 08\nr: 1_000\ns: -0b101\nt: 1.5\nu: .5\nv: 1.\nw: 100.0\n"
                 "x: 1e-7\nz: 1e21\naa: 1e400\nab: 12345678901234567890\nac: 123456789012345678901234",
                 '{"aa":"1e400","ab":12345678901234567890,"ac":1.2345678901234569e+23,"false":1000,"m":31,"o":15,'
                 '"p":15,"q":8,"r":1000,"s":-5,"t":1.5,"u":0.5,"v":1,"w":100,"x":1e-7,"z":1e+21}', id="numbers"),
    pytest.param("d: 2001-12-14\nt: 2001-12-14T21:59:43.10Z\nsx: 1:30\nq: '1'\nqq: \"yes\"",
                 '{"d":"2001-12-14","q":"1","qq":"yes","sx":"1:30","t":"2001-12-14T21:59:43.10Z"}',
                 id="timestamps-base60-quoted"),
    pytest.param("base: &b {x: 1, y: [1,2]}\nderived:\n  <<: *b\n  y: 3",
                 '{"base":{"true":[1,2],"x":1},"derived":{"true":3,"x":1}}', id="merge-and-y-key"),
    pytest.param("1: a\ntrue: b\n1.5: c", '{"1":"a","1.5":"c","true":"b"}', id="keys-made-strings"),
    pytest.param("---\na: 1\n---\nb: [2", '{"a":1}', id="first-document-only"),
    pytest.param("", "null", id="empty"),
    pytest.param("a: !!str 1\nb: !!int \"3\"", '{"a":"1","b":3}', id="explicit-tags"),
    pytest.param("x: 0.000001\ny: 0.0000001\nz: -0.0\nw: 5e-324\nv: 1e20",
                 '{"true":1e-7,"v":100000000000000000000,"w":5e-324,"x":0.000001,"z":-0}', id="float-forms"),
])
def test_yaml_to_json(text: str, expected: str) -> None:
    assert gotext.yaml_to_json(text) == expected


@pytest.mark.parametrize(("text", "error"), [
    pytest.param("a: [unclosed", "yaml: line 1: ", id="syntax"),
    pytest.param("a: .nan", "json: unsupported value", id="nan"),
    pytest.param("? [a, b]\n: c", "unsupported map key", id="list-key"),
    pytest.param("~: c", "unsupported map key", id="null-key"),
])
def test_yaml_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[")):
        gotext.yaml_to_json(text)


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("myjob-xyz12", "myjob-xyz12", id="short"),
    pytest.param("a" * 47 + "-xyzab", "a" * 44 + "-xyzab", id="last-50"),
    pytest.param("1abc", "rabc", id="leading-digit"),
    pytest.param("-abc", "rabc", id="leading-punctuation"),
])
def test_check_name(name: str, expected: str) -> None:
    assert gotext.check_name(name) == expected


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("myjob-head", "myjob-head", id="short"),
    pytest.param("a" * 60 + "-head", "a" * 58 + "-head", id="last-63"),
    pytest.param("_x", "rx", id="leading-punctuation"),
])
def test_check_label(value: str, expected: str) -> None:
    assert gotext.check_label(value) == expected
