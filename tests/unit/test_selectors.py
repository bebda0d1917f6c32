"""Tables for label and field selectors: parsing, matching, canonical text, errors."""
from __future__ import annotations

import pytest

from emunet import errors, selectors

LABELS = {"run": "my-nginx", "tier": "web", "env": "prod", "version": "3"}

# (selector text, labels, matches)
MATCH_CASES = [
    ("", LABELS, True),
    ("", None, True),
    ("run=my-nginx", LABELS, True),
    ("run==my-nginx", LABELS, True),
    ("run=other", LABELS, False),
    ("run!=other", LABELS, True),
    ("missing!=x", LABELS, True),
    ("run!=my-nginx", LABELS, False),
    ("tier in (web,api)", LABELS, True),
    ("tier in (api)", LABELS, False),
    ("missing in (a)", LABELS, False),
    ("tier notin (api)", LABELS, True),
    ("missing notin (a)", LABELS, True),
    ("tier notin (web)", LABELS, False),
    ("env", LABELS, True),
    ("missing", LABELS, False),
    ("!missing", LABELS, True),
    ("!env", LABELS, False),
    ("run=my-nginx,tier=web", LABELS, True),
    ("run=my-nginx,tier=api", LABELS, False),
    ("  run = my-nginx ,  tier  in  ( web , api ) , ! canary ", LABELS, True),
    ("version>2", LABELS, True),
    ("version<3", LABELS, False),
    ("run>2", LABELS, False),
    ("run=", {"run": ""}, True),
    ("run=", LABELS, False),
    ("run in ()", {"run": ""}, True),
    ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
    ("run=my-nginx", None, False),
    ("!run", None, True),
    ("in=notin", {"in": "notin"}, True),
]


@pytest.mark.parametrize("text,labels,want", MATCH_CASES)
def test_label_selector_matches(text, labels, want):
    assert selectors.parse_label_selector(text).matches(labels) is want


# (selector text, canonical String() of the parsed selector)
STRING_CASES = [
    ("", ""),
    ("tier=web,run=my-nginx", "run=my-nginx,tier=web"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    ("app in (b, a)", "app in (a,b)"),
    ("app notin (x)", "app notin (x)"),
    ("b,!a", "!a,b"),
    ("v>1", "v>1"),
    ("v<1", "v<1"),
    ("a in (,x)", "a in (,x)"),
]


@pytest.mark.parametrize("text,want", STRING_CASES)
def test_label_selector_prints_sorted_requirements(text, want):
    assert str(selectors.parse_label_selector(text)) == want


# (selector text, the exact apiserver message)
_NAME_REGEX = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
               "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
               "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_VALUE_REGEX = ("a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
ERROR_CASES = [
    ("a b", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a=b,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a b=c", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a>b", ("unable to parse requirement: values[0]: Invalid value: \"b\": "
            "for 'Gt', 'Lt' operators, the value must be an integer")),
    ("-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part "
             + _NAME_REGEX),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a=-b", "unable to parse requirement: values[0][a]: Invalid value: \"-b\": "
             + _VALUE_REGEX),
    ("a/b/c=d", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name "
                + _NAME_REGEX
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("/a", ("unable to parse requirement: <nil>: Invalid value: \"/a\": "
           "prefix part must be non-empty")),
]


@pytest.mark.parametrize("text,message", ERROR_CASES)
def test_bad_label_selector_is_a_bad_request_with_upstream_message(text, message):
    with pytest.raises(errors.BadRequest) as info:
        selectors.parse_label_selector(text)
    assert info.value.message == message
    assert info.value.code == 400


# (selector object, canonical string, labels, matches)
OBJECT_CASES = [
    (None, "", LABELS, False),
    ({}, "", LABELS, True),
    ({"matchLabels": {}}, "", {}, True),
    ({"matchLabels": {"run": "my-nginx"}}, "run=my-nginx", LABELS, True),
    ({"matchLabels": {"tier": "web", "run": "my-nginx"}}, "run=my-nginx,tier=web", LABELS, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "a"]}]},
     "app in (a,b)", {"app": "b"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]},
     "app notin (a)", {"app": "a"}, False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, "app", {"app": ""}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, "!app", {}, True),
    ({"matchLabels": {"z": "1"},
      "matchExpressions": [{"key": "a", "operator": "Exists"}]}, "a,z=1", {"a": "", "z": "1"}, True),
]


@pytest.mark.parametrize("sel,text,labels,want", OBJECT_CASES)
def test_label_selector_object(sel, text, labels, want):
    parsed = selectors.from_label_selector_object(sel)
    assert parsed.matches(labels) is want
    assert selectors.selector_string(sel) == text


def test_nil_selector_selects_nothing_and_empty_selects_everything():
    assert selectors.from_label_selector_object(None).matches({}) is False
    assert selectors.from_label_selector_object({}).matches({}) is True
    assert selectors.from_label_selector_object({}).empty


OBJECT_ERRORS = [
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     '"Gt" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values: Invalid value: [x]: values set must be empty for exists and does not exist"),
    ({"matchLabels": {"a": "b c"}}, 'values[0][a]: Invalid value: "b c": ' + _VALUE_REGEX),
]


@pytest.mark.parametrize("sel,message", OBJECT_ERRORS)
def test_invalid_selector_object_is_rejected(sel, message):
    with pytest.raises(errors.BadRequest) as info:
        selectors.from_label_selector_object(sel)
    assert info.value.message == message


def test_requires_exact_match():
    sel = selectors.parse_label_selector("a=1,b in (2),c in (3,4),d!=5")
    assert [sel.requires_exact_match(k) for k in "abcde"] == ["1", "2", None, None, None]


# --------------------------------------------------------------------------- #
# Field selectors
# --------------------------------------------------------------------------- #

POD = {"metadata": {"name": "web-1", "namespace": "default"},
       "spec": {"nodeName": "node-a", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "serviceAccountName": "default"},
       "status": {"phase": "Running", "podIP": "10.0.0.5"}}
EVENT = {"metadata": {"name": "web-1.17a", "namespace": "default"}, "type": "Normal",
         "reason": "Scheduled",
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u-1"}}
NODE = {"metadata": {"name": "node-a"}, "spec": {}}
SVC = {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.10", "type": "ClusterIP"}}

# (selector, object, matches)
FIELD_CASES = [
    ("", POD, True),
    ("metadata.name=web-1", POD, True),
    ("metadata.name==web-1", POD, True),
    ("metadata.name!=web-1", POD, False),
    ("metadata.name=web-2", POD, False),
    ("metadata.namespace=default,metadata.name=web-1", POD, True),
    ("spec.nodeName=node-a", POD, True),
    ("spec.nodeName=", POD, False),
    ("spec.nodeName=", NODE, True),
    ("spec.nodeName!=", POD, True),
    ("status.phase!=Succeeded,status.phase!=Failed", POD, True),
    ("status.podIP=10.0.0.5", POD, True),
    ("spec.restartPolicy=Always,spec.schedulerName=default-scheduler", POD, True),
    ("spec.serviceAccountName=default", POD, True),
    (("involvedObject.name=web-1,involvedObject.namespace=default,"
     "involvedObject.kind=Pod,involvedObject.uid=u-1"), EVENT, True),
    ("involvedObject.uid=u-1,involvedObject.kind=Pod,involvedObject.name=web-1", EVENT, True),
    ("involvedObject.kind=Node", EVENT, False),
    ("type=Normal,reason=Scheduled", EVENT, True),
    ("spec.unschedulable=false", NODE, True),
    ("spec.unschedulable=true", {"spec": {"unschedulable": True}}, True),
    ("spec.clusterIP=10.96.0.10,spec.type=ClusterIP", SVC, True),
    ("metadata.name=a\\,b", {"metadata": {"name": "a,b"}}, True),
    ("metadata.name=a\\=b", {"metadata": {"name": "a=b"}}, True),
    ("metadata.name=a\\\\b", {"metadata": {"name": "a\\b"}}, True),
    ("metadata.missing=", POD, True),
]


@pytest.mark.parametrize("text,obj,want", FIELD_CASES)
def test_field_selector_matches(text, obj, want):
    assert selectors.parse_field_selector(text).matches(obj) is want


FIELD_ERRORS = [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=b=c", "invalid field selector: unescaped character in value: ="),
    ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
]


@pytest.mark.parametrize("text,message", FIELD_ERRORS)
def test_bad_field_selector_is_a_bad_request(text, message):
    with pytest.raises(errors.BadRequest) as info:
        selectors.parse_field_selector(text)
    assert info.value.message == message


FIELD_STRINGS = [
    ("b=2,a=1", "a=1,b=2"),
    ("a==1", "a=1"),
    ("a!=1", "a!=1"),
    ("a=x\\,y", "a=x\\,y"),
    (",a=1,", "a=1"),
]


@pytest.mark.parametrize("text,want", FIELD_STRINGS)
def test_field_selector_prints_sorted_escaped_terms(text, want):
    assert str(selectors.parse_field_selector(text)) == want


def test_field_selector_requires_exact_match():
    sel = selectors.parse_field_selector("metadata.name=x,spec.nodeName!=n")
    assert sel.requires_exact_match("metadata.name") == "x"
    assert sel.requires_exact_match("spec.nodeName") is None
