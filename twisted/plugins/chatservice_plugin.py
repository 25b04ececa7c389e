"""The ``twistd chat`` plugin: a ServiceMaker only, so ``--reactor`` can install first."""

from twisted.application.service import ServiceMaker

chat = ServiceMaker(
    "chatservice",
    "chatservice.tap",
    "Real-time chat backend: REST + WebSocket on one port.",
    "chat",
)
