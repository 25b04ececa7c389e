"""The encryption-at-rest key ring: parsing, sealing, opening, rotation ids."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chatservice.keyring import (
    CannotOpen,
    KeyRingError,
    UnknownKey,
    new_key,
    parse_key_ring,
    sealed_key_id,
)

OLD = new_key()
NEW = new_key()


class ParseTests(SynchronousTestCase):
    """``ENCRYPTION_KEY`` in its two forms, and what it refuses."""

    def test_unset_or_empty_is_off(self) -> None:
        self.assertIsNone(parse_key_ring(None))
        self.assertIsNone(parse_key_ring("  "))

    def test_one_key_gets_the_default_id(self) -> None:
        ring = parse_key_ring(OLD)
        assert ring is not None
        self.assertEqual(ring.key_ids(), ("k1",))

    def test_ring_first_key_seals(self) -> None:
        ring = parse_key_ring(f"new:{NEW}, old:{OLD}")
        assert ring is not None
        self.assertEqual(ring.current, "new")
        self.assertEqual(ring.key_ids(), ("new", "old"))

    def test_refusals_name_the_setting(self) -> None:
        for bad in ["short", f"a:{OLD},a:{NEW}", f"bad id:{OLD}", "k:" + "A" * 60]:
            with self.assertRaises(KeyRingError) as caught:
                parse_key_ring(bad)
            self.assertIn("ENCRYPTION_KEY", str(caught.exception))


class SealTests(SynchronousTestCase):
    """Sealed values open only with their key and in their place."""

    def test_round_trip_and_ciphertext_hides_plaintext(self) -> None:
        ring = parse_key_ring(f"new:{NEW}")
        assert ring is not None
        sealed = ring.seal(b"attack at dawn", b"message:1")
        self.assertNotIn(b"attack", sealed)
        self.assertEqual(sealed_key_id(sealed), "new")
        self.assertEqual(ring.open(sealed, b"message:1"), b"attack at dawn")

    def test_nonces_differ(self) -> None:
        ring = parse_key_ring(NEW)
        assert ring is not None
        self.assertNotEqual(ring.seal(b"x", b""), ring.seal(b"x", b""))

    def test_other_place_or_tampering_fails(self) -> None:
        ring = parse_key_ring(NEW)
        assert ring is not None
        sealed = ring.seal(b"secret", b"message:1")
        with self.assertRaises(CannotOpen):
            ring.open(sealed, b"message:2")
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        with self.assertRaises(CannotOpen):
            ring.open(tampered, b"message:1")
        with self.assertRaises(CannotOpen):
            ring.open(b"plain text", b"message:1")

    def test_rotated_ring_opens_old_values_and_seals_new(self) -> None:
        old_ring = parse_key_ring(f"old:{OLD}")
        ring = parse_key_ring(f"new:{NEW},old:{OLD}")
        assert old_ring is not None and ring is not None
        sealed = old_ring.seal(b"v", b"a")
        self.assertEqual(ring.open(sealed, b"a"), b"v")
        self.assertEqual(sealed_key_id(ring.seal(b"v", b"a")), "new")

    def test_wrong_ring_names_the_missing_key(self) -> None:
        sealed = parse_key_ring(f"old:{OLD}").seal(b"v", b"a")  # type: ignore[union-attr]
        other = parse_key_ring(f"new:{NEW}")
        assert other is not None
        with self.assertRaises(UnknownKey):
            other.open(sealed, b"a")
