"""The REST front end: the aiohttp gateway (``gateway``), its ``/v1`` routes (``api``)
and its link to the node (``link``).

The gateway is a client of its own node: every HTTP request becomes an ordinary
client request over ``skylock.client.connection``, so this package sits above
``skylock.client`` and nothing below imports it; only the node process that
starts the gateway (``skylock/node.py``) does. See tests/test_layering.py.
"""
