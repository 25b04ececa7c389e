"""Packaging for chatservice.

``twisted.plugins`` has no ``__init__.py`` (Twisted skips plugin folders that
have one), so ``find_packages()`` cannot see it: the packages are listed by
hand.
"""

from setuptools import setup

setup(
    name="chatservice",
    version="0.1.0",
    description="A real-time chat backend as a Twisted service: REST + WebSocket on one port.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["chatservice", "chatservice.store", "chatservice.web", "twisted.plugins"],
    package_data={
        "chatservice.store": ["schema/*.sql"],
        "chatservice": ["py.typed"],
        # The web client's page and assets, served at / (chatservice/web/files.py).
        "chatservice.web": ["index.html", "admin.html", "sw.js", "static/*.*", "static/js/*.js"],
    },
    install_requires=[
        "twisted[tls]>=25.5",  # Request(parsePOSTFormSubmission=False)
        "autobahn>=24.4",
        "klein>=24.8",
        "werkzeug>=2.2",  # imported directly for Klein's routing exceptions
        "treq>=24.9",
        "pyjwt>=2.15",  # what CI tests; older releases accept junk in a signature
        "bcrypt>=4.2",
        "orjson>=3.10",  # the hot path's JSON encoder
        "zope.interface>=6",
        "cryptography>=43",  # AES-256-GCM encryption at rest (chatservice/keyring.py)
        "prometheus_client>=0.20",  # metrics at /metrics on METRICS_LISTEN (metrics.py)
        "Pillow>=10",  # image checks and thumbnails of uploads (chatservice/images.py)
        "multipart>=1.2",  # the incremental multipart/form-data parser of uploads
        # Web Push (chatservice/webpush.py): RFC 8291 encryption, RFC 8292 VAPID.
        "http-ece>=1.2",
        "py-vapid>=1.9",
    ],
    extras_require={
        "postgresql": ["psycopg[binary]>=3.2"],
        "redis": ["txredisapi>=1.4.10"],
        "dev": [
            "psycopg[binary]==3.3.9",
            "txredisapi==1.6.0",
            "ruff==0.17.6",
            "mypy==2.4.1",
            "mypy-zope==1.0.17",
            "websockets==17.4",
            "hypothesis==6.170.17",
            "schemathesis==4.32.5",
            "jsonschema==4.26.0",
            "coverage==7.*",
            # The browser tests drive Debian's /usr/bin/chromium (installed by
            # .ci/run); playwright never downloads a browser of its own here.
            "playwright==1.65.2",
            # axe-core (axe.min.js, MPL-2.0) for the accessibility test.
            "axe-playwright-python==0.1.8",
        ],
    },
)
