"""Settings: the seed's env vars, durations, precedence, and refusal of missing or weak secrets."""

from __future__ import annotations

import dataclasses
import os

import pytest

from tokenconform_server.config import ConfigError, Settings, generate_secret, parse_duration

A = "a" * 40
B = "b" * 40
ENV = {"ACCESS_TOKEN_SECRET": A, "REFRESH_TOKEN_SECRET": B}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("7d", 604800),
        ("2s", 2),
        ("900", 900),
        ("1h", 3600),
        ("1w", 604800),
        (" 15M ", 900),
        ("0", 0),
        (900, 900),
    ],
)
def test_parse_duration_accepts_the_seeds_forms(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "1.5h", "15 minutes", "m", "7y", True, None, -1])
def test_parse_duration_rejects_anything_else_naming_the_variable(text):
    with pytest.raises(ConfigError) as info:
        parse_duration(text, name="ACCESS_TOKEN_EXPIRY")
    assert info.value.variable == "ACCESS_TOKEN_EXPIRY"
    assert str(info.value).startswith("ACCESS_TOKEN_EXPIRY: ")


def test_defaults_match_the_contract():
    s = Settings.from_env(ENV)
    assert (s.host, s.port, s.db_path) == ("127.0.0.1", 8000, "tokenconform.db")
    assert (s.access_ttl, s.refresh_ttl, s.session_max_age) == (900, 604800, 2592000)
    assert s.bcrypt_rounds == 12
    assert s.issuer == s.audience == "tokenconform-reference"
    assert (s.algorithm, s.delivery, s.cookie_prefix) == ("HS256", "both", "")
    assert (s.login_max_failures, s.login_failure_window) == (20, 300)
    assert (s.threads, s.max_body_bytes) == (8, 65536)


def test_env_vars_use_the_seeds_names():
    env = {
        **ENV,
        "DATABASE_PATH": "/tmp/x.db",
        "ACCESS_TOKEN_EXPIRY": "15m",
        "REFRESH_TOKEN_EXPIRY": "7d",
        "SESSION_MAX_AGE": "30d",
        "BCRYPT_ROUNDS": "10",
        "TOKEN_ISSUER": "iss",
        "TOKEN_AUDIENCE": "aud",
        "TOKEN_DELIVERY": "cookie",
        "COOKIE_PREFIX": "__Host-",
        "LOGIN_MAX_FAILURES": "5",
        "LOGIN_FAILURE_WINDOW": "2m",
        "SERVER_THREADS": "4",
    }
    s = Settings.from_env(env)
    assert s.access_secret == A and s.refresh_secret == B
    assert s.db_path == "/tmp/x.db"
    assert (s.access_ttl, s.refresh_ttl, s.session_max_age) == (900, 604800, 2592000)
    assert (s.bcrypt_rounds, s.issuer, s.audience) == (10, "iss", "aud")
    assert (s.delivery, s.cookie_prefix) == ("cookie", "__Host-")
    assert (s.login_max_failures, s.login_failure_window, s.threads) == (5, 120, 4)


def test_overrides_win_over_env_and_none_overrides_are_ignored():
    env = {**ENV, "ACCESS_TOKEN_EXPIRY": "15m", "BCRYPT_ROUNDS": "10"}
    s = Settings.from_env(env, access_ttl="3s", refresh_ttl=8, bcrypt_rounds=None, port=0)
    assert (s.access_ttl, s.refresh_ttl, s.bcrypt_rounds, s.port) == (3, 8, 10, 0)


@pytest.mark.parametrize("missing", ["ACCESS_TOKEN_SECRET", "REFRESH_TOKEN_SECRET"])
def test_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.variable == missing
    assert "not set" in str(info.value)


def test_an_empty_secret_counts_as_missing():
    with pytest.raises(ConfigError, match="ACCESS_TOKEN_SECRET: is not set"):
        Settings.from_env({**ENV, "ACCESS_TOKEN_SECRET": ""})


def test_refuses_a_secret_shorter_than_32_bytes_citing_rfc_7518():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**ENV, "REFRESH_TOKEN_SECRET": "x" * 31})
    assert info.value.variable == "REFRESH_TOKEN_SECRET"
    assert "31 bytes" in str(info.value)
    assert "32" in str(info.value)
    assert "RFC 7518 §3.2" in str(info.value)


def test_secret_length_is_counted_in_bytes():
    # 16 two-byte characters are 32 bytes: long enough, though only 16 characters.
    assert Settings.from_env({**ENV, "ACCESS_TOKEN_SECRET": "é" * 16}).access_secret == "é" * 16
    with pytest.raises(ConfigError):
        Settings.from_env({**ENV, "ACCESS_TOKEN_SECRET": "é" * 15 + "x"})


def test_longer_hash_algorithms_need_longer_secrets():
    with pytest.raises(ConfigError, match="HS512 needs at least 64"):
        Settings(access_secret=A, refresh_secret=B, algorithm="HS512")
    with pytest.raises(ConfigError, match="unsupported algorithm"):
        Settings(access_secret=A, refresh_secret=B, algorithm="RS256")


def test_refuses_the_same_secret_for_both_kinds_of_token():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**ENV, "REFRESH_TOKEN_SECRET": A})
    assert info.value.variable == "REFRESH_TOKEN_SECRET"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BCRYPT_ROUNDS", "abc"),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "32"),
        ("TOKEN_DELIVERY", "xml"),
        ("COOKIE_PREFIX", "__Secure-"),
        ("ACCESS_TOKEN_EXPIRY", "0"),
        ("REFRESH_TOKEN_EXPIRY", "soon"),
        ("LOGIN_MAX_FAILURES", "0"),
        ("SERVER_THREADS", "-1"),
    ],
)
def test_invalid_env_values_name_their_variable(variable, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**ENV, variable: value})
    assert info.value.variable == variable


def test_invalid_override_names_the_field_not_the_env_var():
    with pytest.raises(ConfigError) as info:
        Settings.from_env(ENV, access_ttl="0")
    assert info.value.variable == "access_ttl"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(ENV, access_secret="short")
    assert info.value.variable == "access_secret"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(ENV, port=70000)
    assert info.value.variable == "port"


def test_unknown_override_is_an_error():
    with pytest.raises(ConfigError, match="no such setting"):
        Settings.from_env(ENV, colour="blue")


def test_settings_are_frozen_and_keep_secrets_out_of_repr():
    s = Settings.from_env(ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]
    assert A not in repr(s) and B not in repr(s)


def test_replace_validates():
    s = Settings.from_env(ENV)
    assert s.replace(access_ttl=5).access_ttl == 5
    with pytest.raises(ConfigError):
        s.replace(access_ttl=0)


def test_for_testing_gives_fresh_random_secrets_and_a_new_database():
    one, two = Settings.for_testing(), Settings.for_testing(access_ttl=3)
    assert one.access_secret != one.refresh_secret
    assert one.access_secret != two.access_secret
    assert len(one.access_secret.encode()) >= 48 and len(one.refresh_secret.encode()) >= 48
    assert one.db_path != two.db_path
    assert os.path.isdir(os.path.dirname(one.db_path))
    assert (one.bcrypt_rounds, one.port, one.host) == (4, 0, "127.0.0.1")
    assert one.login_max_failures >= 100
    assert two.access_ttl == 3
    for settings in (one, two):  # the directories are the caller's to remove
        os.rmdir(os.path.dirname(settings.db_path))


def test_for_testing_with_a_database_url_makes_no_directory():
    s = Settings.for_testing(database_url="postgresql://u:secret@127.0.0.1:5432/db")
    assert s.database == "postgresql://u:secret@127.0.0.1:5432/db"
    assert s.db_path == "tokenconform.db"  # the default, unused
    assert "secret" not in repr(s)


def test_database_url_comes_from_database_url_and_must_be_postgresql():
    env = {"ACCESS_TOKEN_SECRET": "a" * 40, "REFRESH_TOKEN_SECRET": "b" * 40}
    s = Settings.from_env({**env, "DATABASE_URL": "postgres://h/db", "DATABASE_PATH": "/tmp/x.db"})
    assert s.database == "postgres://h/db"
    assert Settings.from_env({**env, "DATABASE_PATH": "/tmp/x.db"}).database == "/tmp/x.db"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, "DATABASE_URL": "mysql://h/db"})
    assert info.value.variable == "DATABASE_URL" and "postgresql://" in info.value.message
    assert Settings.from_env({**env, "SERVER_WORKERS": "4"}).workers == 4
    with pytest.raises(ConfigError, match="SERVER_WORKERS"):
        Settings.from_env({**env, "SERVER_WORKERS": "0"})


def test_dev_generates_random_secrets_without_any_in_the_environment():
    one, two = Settings.dev({}), Settings.dev({}, port=0)
    assert one.access_secret != two.access_secret
    assert one.access_secret != one.refresh_secret
    assert two.port == 0
    assert len(generate_secret().encode()) >= 32


def test_issue_8_limits_come_from_env_vars_and_are_validated() -> None:
    env = {
        "ACCESS_TOKEN_SECRET": "a" * 40,
        "REFRESH_TOKEN_SECRET": "b" * 40,
        "SERVER_CONNECTION_LIMIT": "2000",
        "SERVER_CHANNEL_TIMEOUT": "1m",
        "LOGIN_MAX_CLIENT_FAILURES": "50",
        "TRUSTED_PROXY_HOPS": "1",
    }
    s = Settings.from_env(env)
    assert (s.connection_limit, s.channel_timeout, s.login_max_client_failures, s.trusted_proxy_hops) == (
        2000,
        60,
        50,
        1,
    )
    defaults = Settings.from_env({"ACCESS_TOKEN_SECRET": "a" * 40, "REFRESH_TOKEN_SECRET": "b" * 40})
    assert (defaults.connection_limit, defaults.channel_timeout) == (1000, 30)
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
        Settings.from_env({**env, "TRUSTED_PROXY_HOPS": "-1"})
    with pytest.raises(ConfigError, match="SERVER_CONNECTION_LIMIT"):
        Settings.from_env({**env, "SERVER_CONNECTION_LIMIT": "0"})


def test_throw_away_databases_go_with_the_process_that_made_them(tmp_path):
    """Settings.for_testing() databases live under one scratch root per process, removed at exit:
    every test server used to leave an empty directory behind in the temporary directory."""
    import subprocess
    import sys

    program = (
        "import os\n"
        "from tokenconform_server.config import Settings\n"
        "paths = [Settings.for_testing().db_path for _ in range(3)]\n"
        "assert len({os.path.dirname(os.path.dirname(p)) for p in paths}) == 1\n"
        # A forked child runs the inherited exit handlers when it ends: the parent's root stays.
        "child = os.fork()\n"
        "if child == 0:\n"
        "    raise SystemExit(0)\n"
        "os.waitpid(child, 0)\n"
        "assert os.path.isdir(os.path.dirname(paths[0]))\n"
        "print(os.path.dirname(os.path.dirname(paths[0])))\n"
    )
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=environment)
    assert done.returncode == 0, done.stderr
    root = done.stdout.strip()
    assert root.startswith(str(tmp_path))
    assert not os.path.exists(root)
    assert list(tmp_path.iterdir()) == []
