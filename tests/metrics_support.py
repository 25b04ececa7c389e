"""Scraping ``/metrics`` in tests: one sample's value, and what changed between two scrapes."""

from __future__ import annotations

from collections.abc import Mapping

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.web.client import HTTPConnectionPool

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is not there (a labelled child not created yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample changed between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


async def scrape(
    url: str, pool: HTTPConnectionPool | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, str, Samples]:
    """GET ``url``; its status, content type and samples (parsed only on a 200)."""
    sent: dict[bytes | str, bytes | str] = {k: v for k, v in (headers or {}).items()}
    response = await treq.get(url, pool=pool, headers=sent)
    body = (await response.content()).decode("utf-8")
    kind = (response.headers.getRawHeaders(b"content-type") or [b""])[0].decode("latin-1")
    return response.code, kind, parse(body) if response.code == 200 else {}


def current(name: str, **labels: str) -> float:
    """A sample's value in this process's registry now (0 when it is not there)."""
    from chatservice.metrics import REGISTRY

    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found
