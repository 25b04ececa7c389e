"""Config: defaults, environment, options, and refusing bad values at start-up."""

from __future__ import annotations

import os
from dataclasses import MISSING, fields

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from chatservice.config import Config, ConfigError
from chatservice.settings import DEV_JWT_SECRET
from chatservice.tap import Options

SECRET = "s" * 32


def from_env(**environ: str) -> Config:
    """A Config from this environment only (no options)."""
    return Config.from_sources({}, environ)


class DefaultTests(SynchronousTestCase):
    """The defaults API.md documents."""

    def test_defaults_match_the_contract(self) -> None:
        """With nothing set, each setting has API.md's default."""
        config = from_env()
        self.assertEqual(config.listen, ("tcp:8081",))
        self.assertEqual(config.jwt_secret, "dev-super-secret-change-me")
        self.assertEqual(config.jwt_expiry_seconds, 24 * 3600)
        self.assertEqual(config.log_level, "info")
        self.assertEqual(config.max_message_length, 1000)
        self.assertEqual(config.database_url, "sqlite:///chat.sqlite3")
        self.assertIsNone(config.redis_url)
        self.assertEqual(config.cors_origins, ("*",))
        self.assertEqual(config.bcrypt_rounds, 12)
        self.assertEqual(config.max_body_bytes, 65536)

    def test_default_secret_is_flagged(self) -> None:
        """The development secret is accepted but recognised as such."""
        self.assertTrue(from_env().uses_dev_secret)
        self.assertFalse(from_env(JWT_SECRET=SECRET).uses_dev_secret)

    def test_defaults_are_written_once(self) -> None:
        """Config has no defaults of its own: ``defaults()`` is SETTINGS' defaults."""
        self.assertEqual(
            [f.name for f in fields(Config) if f.default is not MISSING], [], "a second default"
        )
        self.assertEqual([f.name for f in fields(Config) if f.default_factory is not MISSING], [])
        self.assertEqual(Config.defaults(), Config.from_sources({}, {}))
        self.assertEqual(Config.defaults().listen, ("tcp:8081",))


class EnvironmentTests(SynchronousTestCase):
    """Values read from environment variables."""

    def test_environment_variables_are_read(self) -> None:
        """Each documented variable sets its setting."""
        config = from_env(
            PORT="9000",
            JWT_SECRET=SECRET,
            JWT_EXPIRY="2",
            LOG_LEVEL="debug",
            MAX_MESSAGE_LENGTH="200",
            DATABASE_URL="memory:",
            REDIS_URL="redis://127.0.0.1:6379/0",
            CORS_ORIGINS="https://a.example, http://localhost:3000/",
            BCRYPT_ROUNDS="4",
            MAX_BODY_BYTES="4096",
        )
        self.assertEqual(config.listen, ("tcp:9000",))
        self.assertEqual(config.jwt_secret, SECRET)
        self.assertEqual(config.jwt_expiry_seconds, 7200)
        self.assertEqual(config.log_level, "debug")
        self.assertEqual(config.max_message_length, 200)
        self.assertEqual(config.database_url, "memory:")
        self.assertEqual(config.redis_url, "redis://127.0.0.1:6379/0")
        self.assertEqual(config.cors_origins, ("https://a.example", "http://localhost:3000"))
        self.assertEqual(config.bcrypt_rounds, 4)
        self.assertEqual(config.max_body_bytes, 4096)

    def test_log_level_is_case_insensitive(self) -> None:
        """``LOG_LEVEL=WARN`` and ``warning`` both mean ``warn``."""
        self.assertEqual(from_env(LOG_LEVEL="WARN").log_level, "warn")
        self.assertEqual(from_env(LOG_LEVEL="warning").log_level, "warn")

    def test_fractional_expiry_hours(self) -> None:
        """``JWT_EXPIRY`` may be a fraction of an hour."""
        self.assertEqual(from_env(JWT_EXPIRY="0.5").jwt_expiry_seconds, 1800)

    def test_empty_redis_url_is_unset(self) -> None:
        """An empty ``REDIS_URL`` means no Redis."""
        self.assertIsNone(from_env(REDIS_URL="").redis_url)


class OptionPrecedenceTests(SynchronousTestCase):
    """Options given on the command line."""

    def test_options_win_over_environment(self) -> None:
        """An option beats its environment variable."""
        config = Config.from_sources(
            {"port": "7000", "log-level": "error", "bcrypt-rounds": "5"},
            {"PORT": "9000", "LOG_LEVEL": "debug", "BCRYPT_ROUNDS": "4"},
        )
        self.assertEqual(
            (config.listen, config.log_level, config.bcrypt_rounds), (("tcp:7000",), "error", 5)
        )

    def test_unset_option_falls_back_to_environment(self) -> None:
        """An option given as None does not hide the environment."""
        config = Config.from_sources({"port": None}, {"PORT": "9000"})
        self.assertEqual(config.listen, ("tcp:9000",))

    def test_listen_replaces_port(self) -> None:
        """``--listen`` endpoints replace ``tcp:PORT``."""
        config = Config.from_sources(
            {"port": "7000"}, {}, listen=("tcp:9001:interface=127.0.0.1", "unix:/tmp/c.sock")
        )
        self.assertEqual(config.listen, ("tcp:9001:interface=127.0.0.1", "unix:/tmp/c.sock"))


class InvalidValueTests(SynchronousTestCase):
    """A bad value stops start-up with a message that names the setting."""

    def assert_refused(self, variable: str, value: str) -> None:
        """Setting ``variable`` to ``value`` raises ConfigError naming the variable."""
        error = self.assertRaises(ConfigError, from_env, **{variable: value})
        self.assertIn(variable, str(error))

    def test_bad_port(self) -> None:
        """PORT must be an integer 0-65535."""
        for value in ("abc", "70000", "-1", "80.5", ""):
            self.assert_refused("PORT", value)

    def test_bad_bcrypt_rounds(self) -> None:
        """BCRYPT_ROUNDS must be 4-31."""
        for value in ("3", "32", "twelve"):
            self.assert_refused("BCRYPT_ROUNDS", value)
        self.assertEqual(from_env(BCRYPT_ROUNDS="31").bcrypt_rounds, 31)

    def test_bad_log_level(self) -> None:
        """LOG_LEVEL must be debug, info, warn or error."""
        self.assert_refused("LOG_LEVEL", "loud")

    def test_short_secret(self) -> None:
        """A JWT_SECRET other than the default must be at least 32 bytes."""
        self.assert_refused("JWT_SECRET", "short")
        self.assert_refused("JWT_SECRET", "s" * 31)
        self.assertEqual(from_env(JWT_SECRET="€" * 11).jwt_secret, "€" * 11)  # 33 bytes
        self.assertEqual(from_env(JWT_SECRET=DEV_JWT_SECRET).jwt_secret, DEV_JWT_SECRET)

    def test_bad_expiry(self) -> None:
        """JWT_EXPIRY must be a positive number of hours."""
        for value in ("0", "-1", "soon"):
            self.assert_refused("JWT_EXPIRY", value)

    def test_bad_cors_origins(self) -> None:
        """CORS_ORIGINS must be ``*`` or scheme://host[:port] entries."""
        for value in ("example.com", "https://a.example, b.example", ",", ""):
            self.assert_refused("CORS_ORIGINS", value)

    def test_bad_max_message_length(self) -> None:
        """MAX_MESSAGE_LENGTH must be a positive integer."""
        for value in ("0", "many"):
            self.assert_refused("MAX_MESSAGE_LENGTH", value)

    def test_bad_option_names_the_option(self) -> None:
        """A bad option value names the option too."""
        error = self.assertRaises(ConfigError, Config.from_sources, {"port": "x"}, {})
        self.assertIn("--port", str(error))


class TapOptionsTests(SynchronousTestCase):
    """``twistd chat`` options."""

    def setUp(self) -> None:
        self.patch(os, "environ", {})

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_options_build_a_config(self) -> None:
        """Parsed options give a validated Config."""
        config = self.parse("--port", "9100", "--bcrypt-rounds", "4")["config"]
        self.assertEqual((config.listen, config.bcrypt_rounds), (("tcp:9100",), 4))

    def test_options_read_the_environment(self) -> None:
        """Without an option, the environment variable is used."""
        self.patch(os, "environ", {"PORT": "9200"})
        self.assertEqual(self.parse()["config"].listen, ("tcp:9200",))

    def test_option_wins_over_environment(self) -> None:
        """A command-line option beats the environment."""
        self.patch(os, "environ", {"PORT": "9200"})
        self.assertEqual(self.parse("--port", "9300")["config"].listen, ("tcp:9300",))

    def test_listen_is_repeatable_and_replaces_port(self) -> None:
        """Each ``--listen`` adds an endpoint; ``--port`` is then ignored."""
        config = self.parse("--port", "9100", "--listen", "tcp:1", "--listen", "tcp:2")["config"]
        self.assertEqual(config.listen, ("tcp:1", "tcp:2"))

    def test_bad_value_is_a_usage_error(self) -> None:
        """A bad value becomes a UsageError naming the setting, not a traceback."""
        for argv in (
            ["--port", "abc"],
            ["--bcrypt-rounds", "3"],
            ["--log-level", "loud"],
            ["--jwt-secret", "short"],
        ):
            error = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn(argv[0], str(error))

    def test_bad_environment_is_a_usage_error(self) -> None:
        """A bad environment variable is a UsageError too."""
        self.patch(os, "environ", {"PORT": "70000"})
        error = self.assertRaises(usage.UsageError, self.parse)
        self.assertIn("PORT", str(error))


class EncryptionKeyTests(SynchronousTestCase):
    """``ENCRYPTION_KEY``: off by default, a ring when set, a one-line error when bad."""

    def test_off_by_default(self) -> None:
        self.assertIsNone(from_env().encryption)
        self.assertIsNone(from_env(ENCRYPTION_KEY="").encryption)

    def test_a_ring_whose_first_key_seals(self) -> None:
        from chatservice.keyring import new_key

        ring = from_env(ENCRYPTION_KEY=f"new:{new_key()},old:{new_key()}").encryption
        assert ring is not None
        self.assertEqual(ring.key_ids(), ("new", "old"))

    def test_a_bad_key_names_the_setting(self) -> None:
        error = self.assertRaises(ConfigError, from_env, ENCRYPTION_KEY="too-short")
        self.assertTrue(str(error).startswith("ENCRYPTION_KEY: "), str(error))

    def test_the_key_never_shows_in_a_repr(self) -> None:
        from chatservice.keyring import new_key

        key = new_key()
        config = from_env(ENCRYPTION_KEY=key)
        self.assertNotIn(key, repr(config))
        self.assertNotIn(repr(config.encryption.keys[0][1]), repr(config))  # type: ignore[union-attr]
