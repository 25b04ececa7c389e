"""``twistd chat`` freezes its start-up heap once serving (``startup_heap``)."""

from __future__ import annotations

import gc

from twisted.trial.unittest import TestCase

from chatservice.service import ChatService
from chatservice.tap import Options, makeService


class TwistdFreezesTests(TestCase):
    """The objects start-up made are out of the collector's full walks once the service serves."""

    async def test_the_heap_is_frozen_once_serving(self) -> None:
        """Nothing is frozen before ``ready`` fires; start-up's objects are after."""
        self.addCleanup(gc.unfreeze)
        options = Options()
        options.parseOptions(
            ["--database-url", "memory:", "--listen", "tcp:0:interface=127.0.0.1"]
        )
        root = makeService(options)
        (service,) = list(root)  # type: ignore[call-overload]
        assert isinstance(service, ChatService)
        gc.unfreeze()
        root.startService()
        self.addCleanup(root.stopService)
        await service.ready
        self.assertGreater(gc.get_freeze_count(), 10_000)
