"""Profiles: the parser and the published schema agree, and invalid profiles name the key at fault."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from tokenconform.errors import ProfileError
from tokenconform.profile import BUILTIN_PROFILES, builtin_profile_text, load_profile, parse_profile

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SCHEMA = json.loads((Path(__file__).parents[2] / "spec" / "profile.schema.json").read_text())


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_parse_and_validate_against_schema(name):
    document = tomllib.loads(builtin_profile_text(name))
    jsonschema.validate(document, SCHEMA)
    assert load_profile(name).name == name


def reference_document():
    return tomllib.loads(builtin_profile_text("reference"))


@pytest.mark.parametrize(
    ("edit", "key_path", "words"),
    [
        (lambda d: d["refresh"].update(presnt=["body"]), "refresh.presnt", "did you mean 'present'"),
        (lambda d: d["refresh"].update(present=["cookie", "header"]), "refresh.present[1]", "one of cookie, body"),
        (lambda d: d["policy"].update(max_access_ttl="15m"), "policy.max_access_ttl", "must be an integer"),
        (lambda d: d.pop("protected"), "protected", "is required"),
        (lambda d: d["login"].update(path="login"), "login.path", "must start with '/'"),
        (
            lambda d: d["policy"].update(refresh_rejection_status=[401, 999]),
            "policy.refresh_rejection_status[1]",
            "HTTP status",
        ),
        (lambda d: d["tokens"]["access"].clear(), "tokens.access", "needs `json`"),
        (lambda d: d.update(colour="blue"), "colour", "not a known key"),
    ],
)
def test_invalid_profile_names_the_key_path(edit, key_path, words):
    document = reference_document()
    edit(document)
    with pytest.raises(ProfileError) as caught:
        parse_profile(document, source="my.toml")
    assert caught.value.key_path == key_path
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"my.toml: {key_path}: ")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_missing_file_and_bad_toml_are_profile_errors(tmp_path):
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(str(tmp_path / "absent.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ProfileError, match="invalid TOML"):
        load_profile(str(broken))
