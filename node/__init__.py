"""The node: the only package with I/O. It drives the pure core and the store.

aiohttp app (member API, later the peer API and web page), data directory,
configuration and the ``mutualaid`` command line.
"""

__version__ = "0.1.0"
