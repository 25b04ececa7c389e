"""The Web Push routes, and the push of a direct message, through the whole service in memory."""

from __future__ import annotations

from typing import Any, ClassVar

from treq.testing import StubTreq

from chatservice.push_models import MAX_ENDPOINT, b64url_encode
from chatservice.service import ChatService
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests
from tests.push_support import PUSH_SETTINGS, VAPID_PUBLIC_KEY, Browser, RecordingPushHTTP
from tests.rest_support import RestTestCase

PUSH = PUSH_SETTINGS


class PushRestCase(RestTestCase):
    """``RestTestCase`` with push configured and pushes recorded in memory."""

    config_changes: ClassVar[dict[str, Any]] = PUSH

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.pushes = RecordingPushHTTP()
        self.service = ChatService(
            config_for_tests(**self.config_changes),
            self.reactor,
            store=self.make_store(self.reactor),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
            push_http=self.pushes,
        )
        self.service.startService()
        self.successResultOf(self.service.ready)
        self.addCleanup(lambda: self.successResultOf(self.service.stopService()))
        self.client: Any = StubTreq(self.service.resource())

    def subscribe(self, token: str, browser: Browser, endpoint: str) -> int:
        """Register ``browser`` for the token's user; return the subscription id."""
        reply = self.request(
            "POST", "/api/push/subscriptions", json=browser.subscription(endpoint), token=token
        )
        self.assertEqual(reply.code, 201, reply.body)
        return int(reply.json()["id"])


class PushRouteTests(PushRestCase):
    """Register, list and delete subscriptions; the public key for browsers."""

    def test_the_public_key_is_served_without_a_token(self) -> None:
        """GET /api/push/vapid-public-key: the key browsers subscribe with."""
        reply = self.request("GET", "/api/push/vapid-public-key")
        self.assertEqual((reply.code, reply.json()), (200, {"public_key": VAPID_PUBLIC_KEY}))

    def test_a_subscription_is_registered_listed_and_deleted(self) -> None:
        """201 without the keys; the list shows it; DELETE removes it; the keys never come back."""
        token, _ = self.register()
        reply = self.request(
            "POST",
            "/api/push/subscriptions",
            json=Browser().subscription("https://push.example/a"),
            token=token,
        )
        self.assertEqual(reply.code, 201, reply.body)
        created = reply.json()
        self.assertEqual(set(created), {"id", "endpoint", "created_at"})
        listed = self.request("GET", "/api/push/subscriptions", token=token)
        self.assertEqual((listed.code, listed.json()), (200, [created]))
        path = f"/api/push/subscriptions/{created['id']}"
        deleted = self.request("DELETE", path, token=token)
        self.assertEqual(deleted.json(), {"id": created["id"], "deleted": True})
        self.assertEqual(self.request("GET", "/api/push/subscriptions", token=token).json(), [])
        self.assert_error(self.request("DELETE", path, token=token), 404, "not_found")

    def test_only_the_owner_sees_and_deletes_a_subscription(self) -> None:
        """Another user's subscription is not listed and is a 404 to delete."""
        alice, _ = self.register("alice")
        bob, _ = self.register("bob")
        sub_id = self.subscribe(alice, Browser(), "https://push.example/alice")
        self.assertEqual(self.request("GET", "/api/push/subscriptions", token=bob).json(), [])
        reply = self.request("DELETE", f"/api/push/subscriptions/{sub_id}", token=bob)
        self.assert_error(reply, 404, "not_found")
        self.assertEqual(
            len(self.request("GET", "/api/push/subscriptions", token=alice).json()), 1
        )

    def test_bad_subscriptions_are_400(self) -> None:
        """Not https, too long, credentials, bad keys, a key off the curve: invalid_request."""
        token, _ = self.register()
        good = Browser().subscription("https://push.example/x")
        off_curve = b64url_encode(b"\x04" + b"\x01" * 64)
        bodies: list[Any] = [
            {**good, "endpoint": "http://push.example/x"},
            {**good, "endpoint": "https://push.example/" + "a" * MAX_ENDPOINT},
            {**good, "endpoint": "https://user:pw@push.example/x"},
            {**good, "endpoint": "ftp://push.example/x"},
            {**good, "endpoint": 5},
            {**good, "keys": {"p256dh": good["keys"]["p256dh"]}},
            {**good, "keys": {**good["keys"], "auth": "c2hvcnQ"}},
            {**good, "keys": {**good["keys"], "p256dh": off_curve}},
            {**good, "keys": {**good["keys"], "p256dh": "not base64!"}},
            {**good, "expirationTime": "soon"},
            [good],
        ]
        for body in bodies:
            reply = self.request("POST", "/api/push/subscriptions", json=body, token=token)
            self.assert_error(reply, 400, "invalid_request")
        reply = self.request("POST", "/api/push/subscriptions", data=b"{", token=token)
        self.assertEqual(reply.code, 400)
        self.assertEqual(self.request("GET", "/api/push/subscriptions", token=token).json(), [])

    def test_the_routes_need_a_token(self) -> None:
        """Registering, listing and deleting are 401 without a token."""
        for method, path in (
            ("POST", "/api/push/subscriptions"),
            ("GET", "/api/push/subscriptions"),
            ("DELETE", "/api/push/subscriptions/1"),
        ):
            self.assert_error(self.request(method, path), 401, "unauthorized")

    def test_a_bad_subscription_id_is_400(self) -> None:
        """A path id that is not a positive integer: invalid_request."""
        token, _ = self.register()
        for raw in ("abc", "0", "99999999999999999999"):
            reply = self.request("DELETE", f"/api/push/subscriptions/{raw}", token=token)
            self.assert_error(reply, 400, "invalid_request")


class BoundTests(PushRestCase):
    """PUSH_MAX_SUBSCRIPTIONS bounds a user's subscriptions."""

    config_changes: ClassVar[dict[str, Any]] = {**PUSH, "push_max_subscriptions": 2}

    def test_the_oldest_subscription_makes_room(self) -> None:
        """A third browser with a bound of 2: the first one's subscription goes."""
        token, _ = self.register()
        ids = [self.subscribe(token, Browser(), f"https://push.example/{n}") for n in range(3)]
        listed = self.request("GET", "/api/push/subscriptions", token=token).json()
        self.assertEqual([s["id"] for s in listed], ids[1:])


class DirectMessagePushTests(PushRestCase):
    """A direct message is pushed to the other member while they have no socket open."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.alice_id = self.register("alice")
        self.bob, self.bob_id = self.register("bob")
        self.browser = Browser()
        self.subscribe(self.bob, self.browser, "https://push.example/bob")
        self.subscribe(self.alice, Browser(), "https://push.example/alice")
        reply = self.request("POST", "/api/dms", json={"user_id": self.bob_id}, token=self.alice)
        self.assertEqual(reply.code, 200, reply.body)
        self.dm = reply.json()

    def post(self, room_id: int, content: str) -> int:
        reply = self.request(
            "POST",
            "/api/messages",
            json={"room_id": room_id, "content": content},
            token=self.alice,
        )
        self.assertEqual(reply.code, 201, reply.body)
        self.successResultOf(self.service.push.settled())  # type: ignore[union-attr]
        return int(reply.json()["id"])

    def test_a_direct_message_is_pushed_to_the_other_member_only(self) -> None:
        """Alice writes to bob: bob's browser gets the push; alice's own does not."""
        message_id = self.post(self.dm["id"], "lunch at noon?")
        [push] = self.pushes.sent
        self.assertEqual(push.path, "https://push.example/bob")
        payload = self.browser.decrypt(push.body)
        self.assertEqual(
            {k: payload[k] for k in ("type", "room_id", "direct", "message_id", "sender")},
            {
                "type": "direct",
                "room_id": self.dm["id"],
                "direct": True,
                "message_id": message_id,
                "sender": "alice",
            },
        )
        self.assertEqual(payload["excerpt"], "lunch at noon?")
        # The room is known now: the next message is pushed the same way.
        self.post(self.dm["id"], "or later")
        self.assertEqual(len(self.pushes.sent), 2)

    def test_a_message_in_another_room_is_pushed_only_if_it_mentions_the_user(self) -> None:
        """Outside direct rooms only a mention pushes (through ``notify_hooks``)."""
        general = self.request("GET", "/api/rooms", token=self.alice).json()[0]
        self.post(general["id"], "again")
        self.assertEqual(self.pushes.sent, [])
        self.post(general["id"], "hello @bob")
        self.assertEqual(len(self.pushes.sent), 1)
        self.assertEqual(self.pushes.sent[0].path, "https://push.example/bob")

    def test_no_push_while_the_recipient_has_a_socket_open(self) -> None:
        """Bob holds a socket (the cluster counts it): nothing is pushed; closed, it is again."""
        cluster = self.service.cluster
        self.assertIs(self.successResultOf(cluster.reserve_socket(self.bob_id, 20)), True)
        self.post(self.dm["id"], "are you there?")
        self.assertEqual(self.pushes.sent, [])
        cluster.release_socket(self.bob_id)
        self.post(self.dm["id"], "are you there now?")
        self.assertEqual(len(self.pushes.sent), 1)

    def test_a_gone_subscription_is_dropped(self) -> None:
        """The push service answers 410: bob's subscription is deleted."""
        from chatservice.webpush import Answer

        self.pushes.answers = [Answer(410)]
        self.post(self.dm["id"], "hello")
        self.assertEqual(self.request("GET", "/api/push/subscriptions", token=self.bob).json(), [])


class PushOffTests(RestTestCase):
    """Without a VAPID key there is no public key and no registration."""

    def test_push_off_is_404(self) -> None:
        """The key and registration are 404; the list still answers (empty)."""
        token, _ = self.register()
        self.assert_error(self.request("GET", "/api/push/vapid-public-key"), 404, "not_found")
        body = Browser().subscription("https://push.example/x")
        reply = self.request("POST", "/api/push/subscriptions", json=body, token=token)
        self.assert_error(reply, 404, "not_found")
        self.assertEqual(self.request("GET", "/api/push/subscriptions", token=token).json(), [])
        self.assertIsNone(self.service.push)
