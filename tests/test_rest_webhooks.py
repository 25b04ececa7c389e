"""The webhook and bot routes: who may manage them, secrets and keys shown once, bot auth."""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import LogLevel

from chatservice.bots import key_hash
from tests.logcapture import LogCapture
from tests.rest_support import RestTestCase

URL = "https://hooks.example.com/chat"


class WebhookRouteTests(RestTestCase):
    """Owners (and admins) manage a room's webhooks; nobody else learns of them."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, self.bob_id = self.register("bob")
        reply = self.request("POST", "/api/rooms", token=self.alice, json={"name": "Ops"})
        self.room = reply.json()["id"]
        reply = self.request(
            "POST",
            "/api/rooms",
            token=self.alice,
            json={"name": "Secret", "visibility": "private"},
        )
        self.secret_room = reply.json()["id"]

    def add(self, room: int, token: str, url: str = URL) -> Any:
        """POST a webhook; the reply."""
        return self.request("POST", f"/api/rooms/{room}/webhooks", token=token, json={"url": url})

    def test_the_owner_registers_and_sees_the_secret_once(self) -> None:
        """201 with the secret; the list and the webhook never show it again."""
        reply = self.add(self.room, self.alice)
        self.assertEqual(reply.code, 201, reply.body)
        created = reply.json()
        self.assertTrue(created["secret"].startswith("whsec_"))
        self.assertEqual((created["url"], created["room_id"]), (URL, self.room))
        self.assertEqual((created["created_by"], created["failing_attempts"]), (self.alice_id, 0))
        listed = self.request("GET", f"/api/rooms/{self.room}/webhooks", token=self.alice).json()
        self.assertEqual([w["id"] for w in listed], [created["id"]])
        self.assertNotIn("secret", listed[0])
        one = self.request(
            "GET", f"/api/rooms/{self.room}/webhooks/{created['id']}", token=self.alice
        )
        self.assertNotIn(created["secret"], one.body.decode())

    def test_a_member_is_403_and_a_stranger_to_a_private_room_404(self) -> None:
        """Bob sees the public room but does not own it; the private one does not exist for him."""
        self.assert_error(self.add(self.room, self.bob), 403, "forbidden")
        self.assert_error(
            self.request("GET", f"/api/rooms/{self.room}/webhooks", token=self.bob),
            403,
            "forbidden",
        )
        self.assert_error(self.add(self.secret_room, self.bob), 404, "not_found")
        self.assert_error(self.add(999, self.alice), 404, "not_found")

    def test_a_server_admin_manages_any_rooms_webhooks(self) -> None:
        """An admin registers on a private room they are not in, and on General (no owner)."""
        self.successResultOf(self.service.store.set_admin("bob", True))
        self.assertEqual(self.add(self.secret_room, self.bob).code, 201)
        self.assertEqual(self.add(1, self.bob).code, 201)
        self.assertEqual(
            self.request("GET", f"/api/rooms/{self.secret_room}/webhooks", token=self.bob).code,
            200,
        )

    def test_private_and_malformed_urls_are_400(self) -> None:
        """http, a loopback literal, a mapped address, localhost: 400 invalid_request."""
        for url in (
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost/",
            "https://169.254.169.254/",
            "not a url",
        ):
            self.assert_error(self.add(self.room, self.alice, url), 400, "invalid_request")
        for body in (b"[]", b'{"url": 5}', b"{}"):
            reply = self.request(
                "POST", f"/api/rooms/{self.room}/webhooks", token=self.alice, data=body
            )
            self.assert_error(reply, 400, "invalid_request")

    def test_a_room_has_at_most_ten_webhooks(self) -> None:
        """The eleventh is 409."""
        for _ in range(10):
            self.assertEqual(self.add(self.room, self.alice).code, 201)
        self.assert_error(self.add(self.room, self.alice), 409, "conflict")

    def test_delete_and_another_rooms_webhook_is_404(self) -> None:
        """A webhook is reached through its own room only; deleting it twice is 404."""
        hook = self.add(self.room, self.alice).json()["id"]
        other = self.request(
            "GET", f"/api/rooms/{self.secret_room}/webhooks/{hook}", token=self.alice
        )
        self.assert_error(other, 404, "not_found")
        path = f"/api/rooms/{self.room}/webhooks/{hook}"
        reply = self.request("DELETE", path, token=self.alice)
        self.assertEqual((reply.code, reply.json()), (200, {"id": hook, "deleted": True}))
        self.assert_error(self.request("DELETE", path, token=self.alice), 404, "not_found")

    def test_dead_letters_are_listed_retried_and_discarded(self) -> None:
        """The owner's view of what was given up on."""
        from chatservice.hook_models import DEAD, Outcome

        hook = self.add(self.room, self.alice).json()["id"]
        self.request(
            "POST", "/api/messages", token=self.alice, json={"room_id": self.room, "content": "x"}
        )
        store = self.service.store
        self.successResultOf(store.claim_webhooks("t", 0, 1, 10))
        outcome = Outcome(hook, "t", DEAD, 5, 1, 1, attempts=3, last_error="HTTP 500")
        self.assertTrue(self.successResultOf(store.record_outcome(outcome)))
        base = f"/api/rooms/{self.room}/webhooks/{hook}/dead-letters"
        [letter] = self.request("GET", base, token=self.alice).json()
        self.assertEqual((letter["event_id"], letter["last_error"]), (5, "HTTP 500"))
        self.assert_error(self.request("GET", base, token=self.bob), 403, "forbidden")
        retried = self.request("POST", f"{base}/{letter['id']}/retry", token=self.alice)
        self.assertEqual((retried.code, retried.json()["retry_pending"]), (200, True))
        gone = self.request("DELETE", f"{base}/{letter['id']}", token=self.alice)
        self.assertEqual(gone.code, 200)
        self.assert_error(
            self.request("POST", f"{base}/{letter['id']}/retry", token=self.alice),
            404,
            "not_found",
        )
        self.assertEqual(self.request("GET", f"{base}?limit=5", token=self.alice).json(), [])
        self.assert_error(
            self.request("GET", f"{base}?limit=500", token=self.alice), 400, "invalid_request"
        )


class BotRouteTests(RestTestCase):
    """Bots: created by owners, authenticated by key, revoked at once, never logged."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, _ = self.register("bob")
        reply = self.request(
            "POST", "/api/rooms", token=self.alice, json={"name": "CI", "visibility": "private"}
        )
        self.room = reply.json()["id"]

    def create(self, token: str, body: dict[str, Any]) -> Any:
        """POST /api/bots."""
        return self.request("POST", "/api/bots", token=token, json=body)

    def make_bot(self) -> tuple[int, str]:
        """Alice's bot in her private room; its id and key."""
        reply = self.create(self.alice, {"username": "ci-bot", "room_id": self.room})
        self.assertEqual(reply.code, 201, reply.body)
        body = reply.json()
        return body["user_id"], body["api_key"]

    def test_a_bot_posts_and_reads_with_its_key(self) -> None:
        """The bot joined the room; it posts with POST /api/messages and reads /api/events."""
        bot_id, key = self.make_bot()
        self.assertTrue(key.startswith("cb_"))
        posted = self.request(
            "POST", "/api/messages", token=key, json={"room_id": self.room, "content": "build ok"}
        )
        self.assertEqual(posted.code, 201, posted.body)
        self.assertEqual(posted.json()["sender_id"], bot_id)
        events = self.request("GET", f"/api/events?roomId={self.room}", token=key)
        self.assertEqual(events.code, 200)
        self.assertIn("build ok", [e.get("content") for e in events.json()])
        members = self.request("GET", f"/api/rooms/{self.room}/members", token=self.alice).json()
        self.assertIn(bot_id, [m["user_id"] for m in members])

    def test_the_key_is_shown_once_and_only_its_hash_is_stored(self) -> None:
        """Listing shows has_key, never the key; the store holds its SHA-256."""
        bot_id, key = self.make_bot()
        listed = self.request("GET", "/api/bots", token=self.alice)
        self.assertNotIn(key, listed.body.decode())
        self.assertEqual([(b["user_id"], b["has_key"]) for b in listed.json()], [(bot_id, True)])
        stored = self.successResultOf(self.service.store.get_bot(bot_id))
        self.assertEqual(stored.key_hash, key_hash(key))
        self.assertEqual(self.request("GET", "/api/bots", token=self.bob).json(), [])

    def test_revoking_the_key_is_immediate_and_rotation_replaces_it(self) -> None:
        """After DELETE the key is 401; a rotated key works and the old one does not."""
        bot_id, key = self.make_bot()
        rotated = self.request("POST", f"/api/bots/{bot_id}/key", token=self.alice)
        self.assertEqual(rotated.code, 201)
        new_key = rotated.json()["api_key"]
        self.assert_error(self.request("GET", "/api/rooms", token=key), 401, "unauthorized")
        self.assertEqual(self.request("GET", "/api/rooms", token=new_key).code, 200)
        revoked = self.request("DELETE", f"/api/bots/{bot_id}/key", token=self.alice)
        self.assertEqual((revoked.code, revoked.json()["has_key"]), (200, False))
        self.assert_error(self.request("GET", "/api/rooms", token=new_key), 401, "unauthorized")

    def test_only_the_creator_or_an_admin_manages_a_bot(self) -> None:
        """Bob gets 404 for a bot of alice; a room he does not own is 404/403; no room: admins."""
        bot_id, _ = self.make_bot()
        self.assert_error(
            self.request("DELETE", f"/api/bots/{bot_id}/key", token=self.bob), 404, "not_found"
        )
        self.assert_error(
            self.create(self.bob, {"username": "bobs-bot", "room_id": self.room}), 404, "not_found"
        )
        self.assert_error(
            self.create(self.bob, {"username": "bobs-bot", "room_id": 1}), 403, "forbidden"
        )
        self.assert_error(self.create(self.bob, {"username": "bobs-bot"}), 403, "forbidden")
        self.successResultOf(self.service.store.set_admin("bob", True))
        self.assertEqual(self.create(self.bob, {"username": "ops-bot"}).code, 201)
        self.assertEqual(
            self.request("DELETE", f"/api/bots/{bot_id}/key", token=self.bob).code, 200
        )

    def test_bad_bot_bodies_and_taken_names(self) -> None:
        """Bad usernames and room ids are 400; a taken name is 409."""
        for body in ({"username": "x"}, {"username": "ok-name", "room_id": "1"}, {}):
            self.assert_error(self.create(self.alice, body), 400, "invalid_request")
        self.assert_error(
            self.create(self.alice, {"username": "bob", "room_id": self.room}), 409, "conflict"
        )

    def test_unknown_and_malformed_keys_are_401(self) -> None:
        """A key nobody has, a huge one: 401 unauthorized."""
        for key in ("cb_nope", "cb_" + "x" * 5000):
            self.assert_error(self.request("GET", "/api/rooms", token=key), 401, "unauthorized")

    def test_a_disabled_bot_account_is_refused(self) -> None:
        """A server admin disables the bot's account: 403 account_disabled."""
        bot_id, key = self.make_bot()
        self.successResultOf(self.service.store.set_disabled(bot_id, 1))
        self.service.revocation.changed(
            self.successResultOf(self.service.store.get_accounts([bot_id], 0))[bot_id]
        )
        self.assert_error(self.request("GET", "/api/rooms", token=key), 403, "account_disabled")

    def test_a_bot_cannot_log_in_with_a_password(self) -> None:
        """Its password never matches."""
        self.make_bot()
        reply = self.request(
            "POST", "/api/login", json={"username": "ci-bot", "password": "anything-at-all"}
        )
        self.assert_error(reply, 401, "invalid_credentials")

    def test_the_key_never_appears_in_the_logs(self) -> None:
        """Creating, using (also a failing request), rotating and revoking log no key."""
        logs = LogCapture(self)
        bot_id, key = self.make_bot()
        self.request(
            "POST", "/api/messages", token=key, json={"room_id": self.room, "content": "x"}
        )
        self.request("POST", "/api/messages", token=key, data=b"{bad json")
        self.request("GET", "/api/rooms/999/members", token=key)
        new_key = self.request("POST", f"/api/bots/{bot_id}/key", token=self.alice).json()[
            "api_key"
        ]
        self.request("DELETE", f"/api/bots/{bot_id}/key", token=self.alice)
        self.request("GET", "/api/rooms", token=new_key)
        texts = " ".join(logs.texts(LogLevel.debug)) + json.dumps(
            [repr(e) for e in logs.events], default=str
        )
        self.assertIn(f"bot {bot_id}", texts)
        for secret in (key, new_key, key[3:], new_key[3:]):
            self.assertNotIn(secret, texts)
