"""chatservice: a real-time chat backend that runs as a Twisted service.

Importing the package never imports the reactor: ``chatservice.tap`` (run by
``twistd chat``) is the only place that picks and wires it.
"""

__version__ = "0.1.0"
