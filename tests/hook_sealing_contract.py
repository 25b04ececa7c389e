"""Webhook secrets at rest (``ENCRYPTION_KEY``) as a test mixin run against every backend.

Mixed into each backend's ``SealingContractMixin`` test case, whose
``sealed_store`` and ``restart`` it uses; a backend that keeps data at rest
also implements ``raw_webhooks()`` (``(id, secret, sealed_secret)`` of every
webhook row as the database holds it). A signing secret read from a stolen
database would let anyone forge deliveries, so it is sealed, bound to its
webhook's id, re-sealed by a rotation, and read back as it was given.
"""

from __future__ import annotations

from typing import Any

from chatservice.hook_models import NewWebhook
from chatservice.keyring import CannotOpen, sealed_key_id
from chatservice.store import IChatStore
from chatservice.store.sealing import ISealingStore
from tests.sealing_contract import K1, K2, NEW_RING, OLD_RING, SealingContractMixin, ring
from tests.store_contract import new_message

SECRETS = ("whsec_first-secret-abcdef", "whsec_second-secret-ghijkl")


class HookSealingContractMixin(SealingContractMixin):
    """What every store does with webhook secrets under ``ENCRYPTION_KEY``."""

    def raw_webhooks(self) -> list[tuple[Any, ...]]:
        """``(id, secret, sealed_secret)`` of every webhook as stored, by id."""
        raise NotImplementedError

    async def webhooks(self, store: IChatStore, event: bool = False) -> list[int]:
        """Two webhooks of one room, with ``SECRETS`` (and an event to deliver); their ids."""
        alice = await self.make_user(store, "hookowner")
        room = await store.ensure_room("Hooked", "", 1)
        made = [
            await store.create_webhook(
                NewWebhook(room.id, f"https://hooks.example/{n}", secret, alice.id, 5)
            )
            for n, secret in enumerate(SECRETS)
        ]
        self.assertEqual([w.secret for w in made], list(SECRETS))
        if event:
            await self.post(store, new_message(room, alice, "for the hooks"))
        return [w.id for w in made]

    async def secrets_of(self, store: IChatStore, ids: list[int]) -> list[str]:
        """The secrets as the store reads them back."""
        return [(await store.get_webhook(webhook_id)).secret for webhook_id in ids]

    async def test_webhook_secrets_read_back_and_are_sealed_at_rest(self) -> None:
        store = await self.make_store()
        ids = await self.webhooks(store, event=True)
        self.assertEqual(await self.secrets_of(store, ids), list(SECRETS))
        # Deliveries sign with what the claim reads.
        due = await store.claim_webhooks("me", 10**12, 10**12 + 1000, 10)
        self.assertEqual(sorted(w.secret for w in due), sorted(SECRETS))
        if not self.at_rest:
            return
        store = await self.restart(store, OLD_RING)
        self.assertEqual(await self.secrets_of(store, ids), list(SECRETS))
        rows = self.raw_webhooks()
        self.assertEqual([row[1] for row in rows], ["", ""])
        for (webhook_id, _, sealed), secret in zip(rows, SECRETS, strict=True):
            self.assertNotIn(secret.encode(), bytes(sealed))
            self.assertEqual(sealed_key_id(bytes(sealed)), "k1")
            # Bound to its webhook: it does not open as another's.
            other_aad = b"webhook:%d:secret" % (webhook_id + 1)
            self.assertRaises(CannotOpen, ring(f"k1:{K1}").open, bytes(sealed), other_aad)

    async def test_without_a_key_secrets_stay_plain(self) -> None:
        store = await self.sealed_store(None)
        ids = await self.webhooks(store)
        self.assertEqual(await self.secrets_of(store, ids), list(SECRETS))
        if self.at_rest:
            self.assertEqual(
                [(r[1], r[2]) for r in self.raw_webhooks()], [(s, None) for s in SECRETS]
            )

    async def test_rotation_reseals_secrets_and_seals_plain_ones(self) -> None:
        self.need_rest()
        store = await self.sealed_store(None)
        plain = await self.webhooks(store)  # from before encryption
        store = await self.restart(store, OLD_RING)
        room = await store.ensure_room("Hooked later", "", 1)
        later = await store.create_webhook(
            NewWebhook(room.id, "https://hooks.example/later", "whsec_later", 1, 6)
        )
        store = await self.restart(store, NEW_RING)
        assert ISealingStore.providedBy(store)
        while not (step := await store.reseal_batch(100)).done:
            pass
        self.assertEqual(step.secrets, 3)
        rows = self.raw_webhooks()
        self.assertEqual({sealed_key_id(bytes(row[2])) for row in rows}, {"k2"})
        self.assertEqual({row[1] for row in rows}, {""})
        # k1 is retired: the new key alone opens every secret.
        store = await self.restart(store, ring(f"k2:{K2}"))
        ids = [*plain, later.id]
        self.assertEqual(await self.secrets_of(store, ids), [*SECRETS, "whsec_later"])
        # A second run re-seals nothing.
        assert ISealingStore.providedBy(store)
        again = await store.reseal_batch(100)
        self.assertEqual((again.done, again.secrets), (True, 0))
