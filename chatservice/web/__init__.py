"""The web chat client: static files in the package, served at ``/`` by the service.

A thin client of the documented API (docs/protocol.md): plain HTML, CSS and
JavaScript modules under ``static/``, no build step and nothing fetched from
elsewhere, so it works offline and is a reference for anyone integrating the
API. ``files.py`` serves them; nothing here knows about rooms or messages.
"""
