"""kombu's Redis transport, reusing one synchronous Redis client per channel.

kombu builds a new ``redis.Redis`` object for every publish and for every
update of its unacknowledged-message index (``Channel.conn_or_acquire``: twice
per task with ``acks_late``). With redis-py 8 constructing a client costs more
CPU than the command it sends; profiles of the web process and the worker
showed it among their largest single costs. A ``redis.Redis`` is thread-safe
(each command borrows a connection from the channel's pool), so one per
channel is enough. The asynchronous client (BRPOP in the worker's event loop)
is left as kombu makes it. Used for ``redis://`` brokers (settings,
``CELERY_BROKER_TRANSPORT``).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        # The pool is replaced after a fork or a reconnect: follow it.
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
