"""The rules of ``IUploadStore`` (uploads, attachments, garbage), on every backend."""

from __future__ import annotations

from typing import Any

from chatservice.errors import NotFound, QuotaExceeded
from chatservice.file_models import NewUpload
from chatservice.models import ErasePage, NewMessage
from chatservice.store.upload_interface import IUploadStore
from tests.store_contract import StoreContractMixin, failure_of

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_T = "c" * 64


def new_upload(owner_id: int, sha: str = SHA_A, size: int = 10, **more: Any) -> NewUpload:
    """An upload of ``owner_id`` made at t=1000."""
    return NewUpload(owner_id, "f.bin", size, sha, "application/octet-stream", 1000, **more)


class UploadContractMixin(StoreContractMixin):
    """Uploads, their quota, attachments on messages, and what becomes garbage."""

    async def uploads(self) -> tuple[Any, Any, Any, Any]:
        store = await self.make_store()
        alice = await self.make_user(store, "alice")
        bob = await self.make_user(store, "bob")
        room = await store.ensure_room("General", "", 1)
        return IUploadStore(store), alice, bob, room

    async def test_an_upload_is_stored_and_read_back_by_its_owner_only(self) -> None:
        """add_upload gives an id; get_uploads answers the owner's own, in the asked order."""
        store, alice, bob, _ = await self.uploads()
        first = await store.add_upload(new_upload(alice.id), 100)
        image = await store.add_upload(
            new_upload(alice.id, SHA_B, 20, width=4, height=3, thumb_sha256=SHA_T, thumb_size=5),
            100,
        )
        self.assertEqual((first.owner_id, first.sha256, first.size), (alice.id, SHA_A, 10))
        self.assertEqual((image.width, image.height, image.thumb_sha256), (4, 3, SHA_T))
        self.assertEqual(await store.get_upload(image.id), image)
        self.assertEqual(await store.get_uploads(alice.id, [image.id, first.id]), [image, first])
        self.assertEqual(await store.get_uploads(bob.id, [image.id, first.id]), [])
        await failure_of(self, store.get_upload(image.id + 100), NotFound)
        self.assertTrue(await store.has_blob(SHA_T))
        self.assertEqual(await store.list_blobs("", 10), [(SHA_A, 10), (SHA_B, 20), (SHA_T, 5)])

    async def test_the_quota_counts_every_upload_of_the_owner(self) -> None:
        """Past the quota nothing is stored; another user has a quota of their own."""
        store, alice, bob, _ = await self.uploads()
        await store.add_upload(new_upload(alice.id, size=60), 100)
        await failure_of(
            self, store.add_upload(new_upload(alice.id, SHA_B, 41), 100), QuotaExceeded
        )
        self.assertFalse(await store.has_blob(SHA_B))
        await store.add_upload(new_upload(alice.id, SHA_B, 40), 100)
        await store.add_upload(new_upload(bob.id, SHA_B, 40), 100)
        await failure_of(self, store.add_upload(new_upload(10_000, SHA_B, 1), 100), NotFound)

    async def test_attachments_ride_on_messages_and_leave_with_a_delete(self) -> None:
        """A message carries its uploads in order; deleting it deletes uploads left alone."""
        store, alice, _, room = await self.uploads()
        one = await store.add_upload(new_upload(alice.id), 1000)
        two = await store.add_upload(new_upload(alice.id, SHA_B), 1000)
        chat: Any = store
        (posted,) = await chat.add_messages(
            [
                NewMessage(
                    room.id,
                    alice.id,
                    "alice",
                    "hi",
                    5,
                    attachments=(two.attachment(), one.attachment()),
                )
            ]
        )
        (again,) = await chat.add_messages(
            [NewMessage(room.id, alice.id, "alice", "again", 6, attachments=(one.attachment(),))]
        )
        self.assertEqual([a.id for a in posted.message.attachments], [two.id, one.id])
        (read,) = await chat.get_messages(room.id, 1, before=again.message.id)
        self.assertEqual(read.attachments, (two.attachment(), one.attachment()))
        self.assertEqual(await store.upload_rooms(one.id), [room.id])
        change = await chat.delete_message(posted.message.id, alice.id, 7)
        self.assertEqual(change.event.message.attachments, ())
        await failure_of(self, store.get_upload(two.id), NotFound)  # nothing else carried it
        self.assertEqual((await store.get_upload(one.id)).id, one.id)  # "again" still does
        self.assertEqual(await store.orphan_blobs(10), [SHA_B])
        self.assertTrue(await store.forget_blob(SHA_B))
        self.assertFalse(await store.forget_blob(SHA_A))  # still used
        self.assertEqual(await store.orphan_blobs(10), [])

    async def test_erasing_an_author_takes_their_files(self) -> None:
        """erase_messages tombstones the messages and their uploads go with them."""
        store, alice, bob, room = await self.uploads()
        one = await store.add_upload(new_upload(alice.id), 1000)
        chat: Any = store
        await chat.add_messages(
            [NewMessage(room.id, alice.id, "alice", "hi", 5, attachments=(one.attachment(),))]
        )
        await chat.erase_messages(ErasePage(alice.id, bob.id, 100, 9))
        await failure_of(self, store.get_upload(one.id), NotFound)
        self.assertEqual(await store.upload_rooms(one.id), [])

    async def test_collect_takes_unattached_uploads_after_the_grace_only(self) -> None:
        """Never attached: kept until made before the cutoff; attached and carried: kept."""
        store, alice, _, room = await self.uploads()
        idle = await store.add_upload(new_upload(alice.id), 1000)
        used = await store.add_upload(new_upload(alice.id, SHA_B), 1000)
        chat: Any = store
        await chat.add_messages(
            [NewMessage(room.id, alice.id, "alice", "hi", 5, attachments=(used.attachment(),))]
        )
        self.assertEqual(await store.collect_uploads(1000, 10), 0)  # made at 1000: not before
        self.assertEqual(await store.collect_uploads(1001, 10), 1)
        await failure_of(self, store.get_upload(idle.id), NotFound)
        self.assertEqual((await store.get_upload(used.id)).id, used.id)
        self.assertEqual(await store.orphan_blobs(10), [SHA_A])
