"""Zappa's ``settings`` callback under a short, unambiguous name.

``"callbacks": {"settings": "thermostat_zappa.settings"}`` in a stage of zappa_settings.json.
Zappa first looks for a callback module in the directory it runs in, then imports it: a
top-level name of thermostat's own cannot be shadowed by an application's ``handlers`` package
the way ``handlers.cli.zappa_callback`` could. The code lives in ``handlers.cli`` (never in a
Lambda bundle).
"""

from handlers.cli.zappa_callback import settings

__all__ = ["settings"]
