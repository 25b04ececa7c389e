"""Re-seal every file body under the key ring's current key: the files half of key rotation.

The rotation command (of the encryption-at-rest work) calls
``reencrypt_files`` after putting a new key first in ``ENCRYPTION_KEY``;
with encryption newly turned on it seals the plain files too. It walks the
blobs in hash order and re-seals each one whose chunks are not all under
the current key (the local directory rewrites a file through a temporary
file and a rename; the database re-seals one chunk row per transaction),
so it is safe while the service runs and, interrupted, simply runs again:
what is done is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.threads import deferToThread

from chatservice.blobstore import IBlobStore, Runner
from chatservice.files_setup import open_blobs
from chatservice.keyring import KeyRing
from chatservice.store.upload_interface import IUploadStore

BATCH = 200


async def reseal_all(
    store: IUploadStore,
    blobs: IBlobStore,
    after: str = "",
    progress: Callable[[str, bool], None] | None = None,
) -> int:
    """Re-seal every blob past ``after`` that needs it; fire with how many were."""
    resealed = 0
    while True:
        page = await store.list_blobs(after, BATCH)
        for sha256, size in page:
            changed = await blobs.reseal(sha256, size)
            resealed += int(changed)
            if progress is not None:
                progress(sha256, changed)
        if len(page) < BATCH:
            return resealed
        after = page[-1][0]


async def reencrypt_files(
    keyring: KeyRing,
    store: Any,
    database_url: str,
    files_dir: str | None = None,
    run: Runner = deferToThread,
    progress: Callable[[str, bool], None] | None = None,
) -> int:
    """Re-seal the service's files under ``keyring.current``; fire with how many changed.

    Args:
        keyring: the new ring (its first key seals; the others still open).
        store: the started chat store (an ``IUploadStore``) of ``database_url``.
        database_url: ``DATABASE_URL``, which decides where files live.
        files_dir: ``FILES_DIR``, if set.
        run: runs blocking file work in a thread.
        progress: called with each blob's hash and whether it was re-sealed.
    """
    place = open_blobs(database_url, files_dir, store, run, keyring)
    return await reseal_all(IUploadStore(store), place.blobs, progress=progress)
