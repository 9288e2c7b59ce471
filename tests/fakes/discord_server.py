"""A loopback fake of Discord: the REST endpoints the bot uses and a gateway WebSocket.

The real discord.py client connects to it (``botclient.config.use_discord_endpoints``
with ``fake.base_url`` and ``fake.gateway_url``), so end-to-end tests exercise
the bot's real event handling, command machinery, webhook and rate-limit code.

Gateway: HELLO, IDENTIFY → READY + GUILD_CREATE (channels, threads, roles, the
bot's member), heartbeats and ACKs, RESUME (replays what the session missed,
then RESUMED), RECONNECT on request, sharding by guild id. The test drives it
with ``post_message`` (a user writes: MESSAGE_CREATE), ``dispatch`` (any event,
e.g. the same MESSAGE_CREATE twice), ``slash``/``click`` (INTERACTION_CREATE).

REST: users/@me, the application, gateway/bot, channels, messages (history,
send, delete), typing, DM channels, webhooks (list, create, delete, execute
with ``?wait=&thread_id=``), interaction callbacks and follow-ups, application
command sync. It records webhook executions (username, avatar_url, content,
allowed_mentions, thread_id) and every REST call, and can answer what Discord
answers when things go wrong: 10015 Unknown Webhook (``delete_webhook``), the
15-webhook limit (30007), missing permissions (50013), 429s (``fail``).

It runs aiohttp on its own event loop in a thread, like the other fakes.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "fake.discord.bot-token"
DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
MEMBER_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_MESSAGES | MANAGE_WEBHOOKS


def _iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(at if at is not None else time.time(), UTC).isoformat()


@dataclass
class Execution:
    """One webhook execution as Discord received it."""

    webhook_id: str
    channel_id: str
    thread_id: str | None
    username: str | None
    avatar_url: str | None
    content: str | None
    allowed_mentions: Any
    message_id: str
    at: float


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    code: int
    message: str
    count: int
    retry_after: float


@dataclass
class _Session:
    session_id: str
    shard: tuple[int, int]
    ws: web.WebSocketResponse | None = None
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


class FakeDiscord:
    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self._lock = threading.RLock()
        self._last_snowflake = 0
        self.application_id = self.snowflake()
        self.bot_user = self._user_dict(self.application_id, "Tzurot", bot=True)
        self.users: dict[str, dict[str, Any]] = {self.bot_user["id"]: self.bot_user}
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.webhooks_created: list[dict[str, Any]] = []
        self.executions: list[Execution] = []
        self.bot_messages: list[dict[str, Any]] = []
        self.deleted_messages: list[tuple[str, str]] = []
        self.typing: list[tuple[str, float]] = []
        self.interaction_callbacks: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self.command_syncs: list[Any] = []
        self._interaction_channels: dict[str, str] = {}
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.rest_calls: list[tuple[str, str, float]] = []
        self.webhook_limit = 15
        self.execute_delay = 0.0
        # Latency of listing and creating webhooks, to widen races between concurrent first replies.
        self.webhook_setup_delay = 0.0
        self.on_execution: Callable[[Execution], None] | None = None
        self._failures: list[Failure] = []
        self._sessions: dict[str, _Session] = {}
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- ids and objects ------------------------------------------------------------------------

    def snowflake(self) -> str:
        """A time-based snowflake, increasing, like Discord's (so time_snowflake comparisons hold)."""
        with self._lock:
            value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            value = max(value, self._last_snowflake + 1)
            self._last_snowflake = value
            return str(value)

    @staticmethod
    def _user_dict(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name,
            "global_name": None if bot else name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def add_guild(self, name: str = "Guild", *, bot_permissions: int = BOT_PERMISSIONS) -> str:
        guild_id = self.snowflake()
        bot_role = self.snowflake()
        with self._lock:
            self.guilds[guild_id] = {
                "id": guild_id,
                "name": name,
                "owner_id": self.snowflake(),
                "roles": [
                    _role(guild_id, "@everyone", MEMBER_PERMISSIONS, position=0),
                    _role(bot_role, "Tzurot", bot_permissions, position=1, managed=True),
                ],
                "bot_role_id": bot_role,
                "mod_role_id": None,
            }
            self.members[guild_id] = {}
            self._add_member(guild_id, self.bot_user["id"], [bot_role])
        return guild_id

    def add_moderator_role(self, guild_id: str) -> str:
        role_id = self.snowflake()
        with self._lock:
            guild = self.guilds[guild_id]
            guild["roles"].append(
                _role(role_id, "Moderator", MEMBER_PERMISSIONS | MANAGE_MESSAGES, position=2)
            )
            guild["mod_role_id"] = role_id
        return role_id

    def add_user(self, name: str, guild_id: str | None = None, *, roles: list[str] | None = None) -> str:
        user_id = self.snowflake()
        with self._lock:
            self.users[user_id] = self._user_dict(user_id, name)
            if guild_id is not None:
                self._add_member(guild_id, user_id, roles or [])
        return user_id

    def _add_member(self, guild_id: str, user_id: str, roles: list[str]) -> None:
        self.members[guild_id][user_id] = {
            "user": self.users[user_id],
            "roles": roles,
            "nick": None,
            "avatar": None,
            "joined_at": _iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
        }

    def add_channel(
        self,
        guild_id: str,
        name: str = "general",
        *,
        kind: int = 0,
        deny_bot: int = 0,
    ) -> str:
        """A guild channel (0 text, 15 forum); ``deny_bot`` permission bits are denied to the bot's role."""
        channel_id = self.snowflake()
        guild = self.guilds[guild_id]
        overwrites = []
        if deny_bot:
            overwrites.append({"id": guild["bot_role_id"], "type": 0, "allow": "0", "deny": str(deny_bot)})
        channel: dict[str, Any] = {
            "id": channel_id,
            "type": kind,
            "guild_id": guild_id,
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": overwrites,
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if kind == 15:
            channel.update({"available_tags": [], "default_reaction_emoji": None, "default_sort_order": None})
        with self._lock:
            self.channels[channel_id] = channel
            self.messages[channel_id] = []
        return channel_id

    def add_thread(self, parent_id: str, name: str = "thread") -> str:
        """A public thread (or a forum post, when the parent is a forum)."""
        thread_id = self.snowflake()
        parent = self.channels[parent_id]
        with self._lock:
            self.channels[thread_id] = {
                "id": thread_id,
                "type": 11,
                "guild_id": parent["guild_id"],
                "parent_id": parent_id,
                "name": name,
                "owner_id": self.bot_user["id"],
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
                "last_message_id": None,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _iso(),
                    "locked": False,
                },
            }
            self.messages[thread_id] = []
        return thread_id

    def dm_channel(self, user_id: str) -> str:
        with self._lock:
            for channel in self.channels.values():
                if channel["type"] == 1 and channel["recipients"][0]["id"] == user_id:
                    return str(channel["id"])
            channel_id = self.snowflake()
            self.channels[channel_id] = {
                "id": channel_id,
                "type": 1,
                "recipients": [self.users[user_id]],
                "last_message_id": None,
                "flags": 0,
            }
            self.messages[channel_id] = []
            return channel_id

    def delete_webhook(self, webhook_id: str) -> None:
        """As if a moderator deleted the webhook: executing it now answers 10015."""
        with self._lock:
            self.webhooks.pop(webhook_id, None)

    def add_foreign_webhooks(self, channel_id: str, count: int) -> None:
        """Webhooks of other integrations in a channel (towards the 15-webhook limit)."""
        for index in range(count):
            self._create_webhook(channel_id, f"Other {index}", self._user_dict(self.snowflake(), "someone"))

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: int = 0,
        message: str = "",
        count: int = 1,
        retry_after: float = 0.05,
    ) -> None:
        """The next ``count`` requests matching ``method`` and the ``path`` regex get this error."""
        with self._lock:
            self._failures.append(
                Failure(
                    method, re.compile(path), status, code, message or f"error {status}", count, retry_after
                )
            )

    def channel_webhooks(self, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [w for w in self.webhooks.values() if w["channel_id"] == channel_id]

    def executions_in(self, channel_id: str) -> list[Execution]:
        with self._lock:
            return [e for e in self.executions if (e.thread_id or e.channel_id) == channel_id]

    # -- driving the gateway (from the test's thread) --------------------------------------------

    def post_message(
        self,
        channel_id: str,
        author_id: str,
        content: str,
        *,
        reply_to: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        dispatch: bool = True,
    ) -> dict[str, Any]:
        """A user writes in a channel: the message is stored and MESSAGE_CREATE dispatched."""
        channel = self.channels[channel_id]
        message = self._message(
            channel_id,
            self.users[author_id],
            content,
            member=self.members.get(channel.get("guild_id", ""), {}).get(author_id),
            reply_to=reply_to,
            attachments=attachments,
        )
        if dispatch:
            self.dispatch("MESSAGE_CREATE", message, guild_id=channel.get("guild_id"))
        return message

    def dispatch(self, event: str, data: dict[str, Any], *, guild_id: str | None = None) -> None:
        self._call(self._dispatch(event, data, guild_id))

    def slash(
        self,
        channel_id: str,
        user_id: str,
        path: list[str],
        options: dict[str, Any] | None = None,
        command_name: str = "tz",
    ) -> str:
        """A user runs ``/command path... option=value``; returns the interaction token."""
        leaf: list[dict[str, Any]] = [
            {"type": 3, "name": name, "value": value} for name, value in (options or {}).items()
        ]
        for depth, name in enumerate(reversed(path)):
            kind = 1 if depth == 0 else 2
            leaf = [{"type": kind, "name": name, "options": leaf}]
        data = {"id": self._command_id(command_name), "name": command_name, "type": 1, "options": leaf}
        return self._interaction(2, channel_id, user_id, data)

    def autocomplete(
        self,
        channel_id: str,
        user_id: str,
        path: list[str],
        option: str,
        value: str,
        command_name: str = "tz",
    ) -> str:
        """A user types ``value`` into ``option`` of ``/command path...``; returns the interaction token."""
        leaf: list[dict[str, Any]] = [{"type": 3, "name": option, "value": value, "focused": True}]
        for depth, name in enumerate(reversed(path)):
            leaf = [{"type": 1 if depth == 0 else 2, "name": name, "options": leaf}]
        data = {"id": self._command_id(command_name), "name": command_name, "type": 1, "options": leaf}
        return self._interaction(4, channel_id, user_id, data)

    def click(self, channel_id: str, user_id: str, message: dict[str, Any], custom_id: str) -> str:
        """A user presses a button of a message; returns the interaction token."""
        return self._interaction(
            3, channel_id, user_id, {"custom_id": custom_id, "component_type": 2}, message=message
        )

    def force_reconnect(self) -> None:
        """Opcode 7: every session is asked to reconnect (and resume)."""
        self._call(self._send_op_all({"op": 7, "d": None}))

    def drop_connections(self) -> None:
        """Close every gateway socket without a word, as a network failure would."""
        self._call(self._close_all())

    def connected_sessions(self) -> int:
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.ws is not None and not s.ws.closed)

    def callbacks_for(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.interaction_callbacks if c["token"] == token]

    def followups_for(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self.followups if f["token"] == token]

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-discord", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Discord did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            await self._close_all(code=1001)
            if self._runner:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        r = app.router
        api = "/api/v10"
        r.add_get("/gateway", self._gateway)
        r.add_get(api + "/gateway", self._gateway_info)
        r.add_get(api + "/gateway/bot", self._gateway_info)
        r.add_get(api + "/users/@me", self._me)
        r.add_get(api + "/oauth2/applications/@me", self._application)
        r.add_post(api + "/users/@me/channels", self._create_dm)
        r.add_get(api + "/channels/{channel_id}", self._get_channel)
        r.add_get(api + "/channels/{channel_id}/messages", self._history)
        r.add_get(api + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        r.add_post(api + "/channels/{channel_id}/messages", self._send_message)
        r.add_delete(api + "/channels/{channel_id}/messages/{message_id}", self._delete_message)
        r.add_post(api + "/channels/{channel_id}/typing", self._typing)
        r.add_get(api + "/channels/{channel_id}/webhooks", self._list_webhooks)
        r.add_post(api + "/channels/{channel_id}/webhooks", self._create_webhook_route)
        r.add_get(api + "/webhooks/{webhook_id}", self._get_webhook)
        r.add_delete(api + "/webhooks/{webhook_id}", self._delete_webhook_route)
        r.add_post(api + "/webhooks/{webhook_id}/{token}", self._execute)
        r.add_patch(api + "/webhooks/{webhook_id}/{token}/messages/{message_id}", self._edit_followup)
        r.add_post(api + "/interactions/{interaction_id}/{token}/callback", self._interaction_callback)
        r.add_put(api + "/applications/{app_id}/commands", self._sync_commands)
        r.add_put(api + "/applications/{app_id}/guilds/{guild_id}/commands", self._sync_commands)
        r.add_get(api + "/applications/{app_id}/commands", self._get_commands)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- REST plumbing ----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        with self._lock:
            self.rest_calls.append((request.method, request.path, time.monotonic()))
            failure = next(
                (
                    f
                    for f in self._failures
                    if f.count > 0 and f.method == request.method and f.path.search(request.path)
                ),
                None,
            )
            if failure is not None:
                failure.count -= 1
        is_token_route = "/webhooks/" in request.path and request.match_info.get("token")
        is_callback = "/interactions/" in request.path
        if (
            not (is_token_route or is_callback)
            and request.headers.get("Authorization") != f"Bot {self.token}"
        ):
            return _discord_error(401, 0, "401: Unauthorized")
        if failure is not None:
            if failure.status == 429:
                return _json_response(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": failure.retry_after,
                        "global": False,
                    },
                    status=429,
                    headers={
                        "Retry-After": str(failure.retry_after),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": str(failure.retry_after),
                        "X-RateLimit-Bucket": "fake-bucket",
                        "X-RateLimit-Scope": "user",
                        "Via": "1.1 google",  # discord.py treats a 429 without it as a Cloudflare ban
                    },
                )
            return _discord_error(failure.status, failure.code, failure.message)
        response = await handler(request)
        # Generous rate-limit headers, as Discord sends on every answer (without them
        # discord.py sends one request per route at a time).
        response.headers.update(
            {
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Remaining": "49",
                "X-RateLimit-Reset-After": "0.05",
                "X-RateLimit-Bucket": f"fake-{request.method}-{request.match_info.route.resource.canonical}",
            }
        )
        return response

    async def _json(self, request: web.Request) -> Any:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            return json.loads(str(raw)) if raw else {}
        if not request.can_read_body:
            return {}
        return await request.json()

    async def _me(self, request: web.Request) -> web.Response:
        return _json_response({**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0})

    async def _application(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "id": self.application_id,
                "name": "Tzurot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": self._user_dict(self.snowflake(), "owner"),
            }
        )

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        return _json_response(self.channels[self.dm_channel(str(body["recipient_id"]))])

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            return _discord_error(404, 10003, "Unknown Channel")
        return _json_response(channel)

    async def _history(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        limit = int(request.query.get("limit", "50"))
        before = int(request.query.get("before", str(1 << 63)))
        after = int(request.query.get("after", "0"))
        with self._lock:
            found = [m for m in self.messages.get(channel_id, []) if after < int(m["id"]) < before]
        found.sort(key=lambda m: int(m["id"]), reverse=True)
        if "after" in request.query and "before" not in request.query:
            found = sorted(found, key=lambda m: int(m["id"]))[:limit]
            found.reverse()
        return _json_response(found[:limit])

    async def _get_message(self, request: web.Request) -> web.Response:
        with self._lock:
            for message in self.messages.get(request.match_info["channel_id"], []):
                if message["id"] == request.match_info["message_id"]:
                    return _json_response(message)
        return _discord_error(404, 10008, "Unknown Message")

    async def _send_message(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        if channel_id not in self.channels:
            return _discord_error(404, 10003, "Unknown Channel")
        body = await self._json(request)
        message = self._message(
            channel_id,
            self.bot_user,
            body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            reply_to=(body.get("message_reference") or {}).get("message_id"),
        )
        with self._lock:
            self.bot_messages.append({**message, "allowed_mentions": body.get("allowed_mentions")})
        await self._dispatch("MESSAGE_CREATE", message, self.channels[channel_id].get("guild_id"))
        return _json_response(message)

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel_id, message_id = request.match_info["channel_id"], request.match_info["message_id"]
        with self._lock:
            stored = self.messages.get(channel_id, [])
            if not any(m["id"] == message_id for m in stored):
                return _discord_error(404, 10008, "Unknown Message")
            self.messages[channel_id] = [m for m in stored if m["id"] != message_id]
            self.deleted_messages.append((channel_id, message_id))
        data = {"id": message_id, "channel_id": channel_id}
        guild_id = self.channels[channel_id].get("guild_id")
        if guild_id:
            data["guild_id"] = guild_id
        await self._dispatch("MESSAGE_DELETE", data, guild_id)
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        with self._lock:
            self.typing.append((request.match_info["channel_id"], time.monotonic()))
        return web.Response(status=204)

    # -- webhooks ---------------------------------------------------------------------------------------

    def _bot_denied(self, channel: dict[str, Any], bit: int) -> bool:
        guild = self.guilds[channel["guild_id"]]
        base = 0
        for role in guild["roles"]:
            if role["id"] in (guild["id"], guild["bot_role_id"]):
                base |= int(role["permissions"])
        if base & ADMINISTRATOR:
            return False
        denied = any(int(o["deny"]) & bit for o in channel["permission_overwrites"])
        return not base & bit or denied

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            return _discord_error(404, 10003, "Unknown Channel")
        if self._bot_denied(channel, MANAGE_WEBHOOKS):
            return _discord_error(403, 50013, "Missing Permissions")
        snapshot = self.channel_webhooks(channel["id"])
        if self.webhook_setup_delay:
            await asyncio.sleep(self.webhook_setup_delay)
        return _json_response(snapshot)

    async def _create_webhook_route(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            return _discord_error(404, 10003, "Unknown Channel")
        if channel["type"] not in (0, 5, 15):
            return _discord_error(400, 50024, "Cannot execute action on this channel type")
        if self._bot_denied(channel, MANAGE_WEBHOOKS):
            return _discord_error(403, 50013, "Missing Permissions")
        if len(self.channel_webhooks(channel["id"])) >= self.webhook_limit:
            return _discord_error(400, 30007, "Maximum number of webhooks reached (15)")
        body = await self._json(request)
        if self.webhook_setup_delay:
            await asyncio.sleep(self.webhook_setup_delay)
        webhook = self._create_webhook(channel["id"], body.get("name") or "Webhook", self.bot_user)
        with self._lock:
            self.webhooks_created.append(webhook)
        return _json_response(webhook)

    def _create_webhook(self, channel_id: str, name: str, creator: dict[str, Any]) -> dict[str, Any]:
        webhook = {
            "id": self.snowflake(),
            "type": 1,
            "token": uuid.uuid4().hex,
            "channel_id": channel_id,
            "guild_id": self.channels[channel_id]["guild_id"],
            "name": name,
            "avatar": None,
            "user": creator,
            "application_id": self.application_id if creator is self.bot_user else None,
        }
        with self._lock:
            self.webhooks[webhook["id"]] = webhook
        return webhook

    async def _get_webhook(self, request: web.Request) -> web.Response:
        webhook = self.webhooks.get(request.match_info["webhook_id"])
        if webhook is None:
            return _discord_error(404, 10015, "Unknown Webhook")
        return _json_response(webhook)

    async def _delete_webhook_route(self, request: web.Request) -> web.Response:
        with self._lock:
            if self.webhooks.pop(request.match_info["webhook_id"], None) is None:
                return _discord_error(404, 10015, "Unknown Webhook")
        return web.Response(status=204)

    async def _execute(self, request: web.Request) -> web.Response:
        webhook_id, token = request.match_info["webhook_id"], request.match_info["token"]
        if webhook_id == self.application_id:
            return await self._followup(request, token)
        webhook = self.webhooks.get(webhook_id)
        if webhook is None or webhook["token"] != token:
            return _discord_error(404, 10015, "Unknown Webhook")
        body = await self._json(request)
        content = body.get("content")
        if not content and not body.get("embeds"):
            return _discord_error(400, 50006, "Cannot send an empty message")
        if content and len(content) > 2000:
            return _discord_error(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length.")
        username = body.get("username")
        if username is not None and not _valid_webhook_username(username):
            return _discord_error(400, 50035, "Invalid Form Body: username")
        thread_id = request.query.get("thread_id")
        target = thread_id or webhook["channel_id"]
        if thread_id and self.channels.get(thread_id, {}).get("parent_id") != webhook["channel_id"]:
            return _discord_error(400, 10003, "Unknown Channel")
        if self.execute_delay:
            await asyncio.sleep(self.execute_delay)
        author = {
            **self._user_dict(webhook_id, username or webhook["name"], bot=True),
            "avatar": None,
            "discriminator": "0000",
        }
        message = self._message(
            target, author, content or "", webhook_id=webhook_id, embeds=body.get("embeds")
        )
        execution = Execution(
            webhook_id=webhook_id,
            channel_id=webhook["channel_id"],
            thread_id=thread_id,
            username=username,
            avatar_url=body.get("avatar_url"),
            content=content,
            allowed_mentions=body.get("allowed_mentions"),
            message_id=message["id"],
            at=time.monotonic(),
        )
        with self._lock:
            self.executions.append(execution)
        if self.on_execution is not None:
            self.on_execution(execution)
        await self._dispatch("MESSAGE_CREATE", message, webhook["guild_id"])
        if request.query.get("wait") in ("1", "true", "True"):
            return _json_response(message)
        return web.Response(status=204)

    # -- interactions -------------------------------------------------------------------------------------

    def _command_id(self, name: str) -> str:
        with self._lock:
            for sync in reversed(self.command_syncs):
                for command in sync:
                    if command["name"] == name:
                        return str(command["id"])
        return self.snowflake()

    def _interaction(
        self,
        kind: int,
        channel_id: str,
        user_id: str,
        data: dict[str, Any],
        message: dict[str, Any] | None = None,
    ) -> str:
        channel = self.channels[channel_id]
        guild_id = channel.get("guild_id")
        token = f"itoken-{uuid.uuid4().hex}"
        self._interaction_channels[token] = channel_id
        payload: dict[str, Any] = {
            "id": self.snowflake(),
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": channel_id,
            "channel": channel,
            "locale": "en-US",
            "app_permissions": str(BOT_PERMISSIONS),
            "attachment_size_limit": 8 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0 if guild_id else 1,
        }
        if message is not None:
            payload["message"] = message
        if guild_id:
            member = self.members[guild_id][user_id]
            payload["guild_id"] = guild_id
            payload["member"] = {**member, "permissions": str(self._member_permissions(guild_id, user_id))}
            payload["guild_locale"] = "en-US"
        else:
            payload["user"] = self.users[user_id]
        self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return token

    def _member_permissions(self, guild_id: str, user_id: str) -> int:
        guild = self.guilds[guild_id]
        roles = {guild_id, *self.members[guild_id][user_id]["roles"]}
        value = 0
        for role in guild["roles"]:
            if role["id"] in roles:
                value |= int(role["permissions"])
        return value

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        interaction_id, token = request.match_info["interaction_id"], request.match_info["token"]
        with self._lock:
            self.interaction_callbacks.append(
                {
                    "token": token,
                    "type": body.get("type"),
                    "data": body.get("data") or {},
                    "at": time.monotonic(),
                }
            )
        data = body.get("data") or {}
        response: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": body.get("type") == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
            }
        }
        if body.get("type") in (4, 7):
            response["resource"] = {
                "type": body["type"],
                "message": self._message_stub(
                    data.get("content") or "", data, self._interaction_channels.get(token, "0")
                ),
            }
        else:
            response["resource"] = {"type": body.get("type")}
        return _json_response(response)

    async def _followup(self, request: web.Request, token: str) -> web.Response:
        body = await self._json(request)
        message = self._message_stub(
            body.get("content") or "", body, self._interaction_channels.get(token, "0")
        )
        with self._lock:
            self.followups.append(
                {
                    "token": token,
                    "content": body.get("content"),
                    "flags": int(body.get("flags") or 0),
                    "embeds": body.get("embeds") or [],
                    "components": body.get("components") or [],
                    "allowed_mentions": body.get("allowed_mentions"),
                    "message": message,
                    "at": time.monotonic(),
                }
            )
        return _json_response(message)

    async def _edit_followup(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        token = request.match_info["token"]
        with self._lock:
            self.followups.append(
                {
                    "token": token,
                    "content": body.get("content"),
                    "flags": int(body.get("flags") or 0),
                    "embeds": body.get("embeds") or [],
                    "components": body.get("components") or [],
                    "edit": request.match_info["message_id"],
                    "at": time.monotonic(),
                }
            )
        return _json_response(self._message_stub(body.get("content") or "", body))

    def _message_stub(self, content: str, data: dict[str, Any], channel_id: str = "0") -> dict[str, Any]:
        return {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": self.bot_user,
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": data.get("embeds") or [],
            "components": data.get("components") or [],
            "pinned": False,
            "type": 20,
            "flags": int(data.get("flags") or 0),
        }

    async def _sync_commands(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        commands = [
            {**command, "id": self.snowflake(), "application_id": self.application_id, "version": "1"}
            for command in body
        ]
        with self._lock:
            self.command_syncs.append(commands)
        return _json_response(commands)

    async def _get_commands(self, request: web.Request) -> web.Response:
        with self._lock:
            return _json_response(self.command_syncs[-1] if self.command_syncs else [])

    # -- messages -------------------------------------------------------------------------------------------

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        member: dict[str, Any] | None = None,
        reply_to: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        webhook_id: str | None = None,
        embeds: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        channel = self.channels[channel_id]
        message: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": self.snowflake(),
                    "filename": a["filename"],
                    "size": a.get("size", 10),
                    "url": a["url"],
                    "proxy_url": a["url"],
                    "content_type": a.get("content_type"),
                }
                for a in attachments or []
            ],
            "embeds": embeds or [],
            "components": components or [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
        if member is not None:
            message["member"] = {k: v for k, v in member.items() if k != "user"}
        if webhook_id is not None:
            message["webhook_id"] = webhook_id
            message["application_id"] = self.application_id
        if reply_to is not None:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": reply_to,
                "channel_id": channel_id,
                "guild_id": channel.get("guild_id"),
            }
            referenced = next((m for m in self.messages.get(channel_id, []) if m["id"] == reply_to), None)
            message["referenced_message"] = referenced
        with self._lock:
            self.messages.setdefault(channel_id, []).append(message)
        return message

    # -- gateway ---------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        session: _Session | None = None
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op, data = payload.get("op"), payload.get("d")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                if data.get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                session = await self._identify(ws, data)
            elif op == 6:
                session = await self._resume(ws, data)
        if session is not None and session.ws is ws:
            session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> _Session:
        shard = tuple(data.get("shard") or (0, 1))
        with self._lock:
            self.identifies.append({k: v for k, v in data.items() if k != "token"})
        session = _Session(uuid.uuid4().hex, (int(shard[0]), int(shard[1])), ws)
        self._sessions[session.session_id] = session
        guilds = [g for g in self.guilds if self._shard_of(g, session.shard[1]) == session.shard[0]]
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g, "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "shard": list(session.shard),
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
        }
        await self._send_event(session, "READY", ready)
        for guild_id in guilds:
            await self._send_event(session, "GUILD_CREATE", self._guild_create(guild_id))
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> _Session | None:
        with self._lock:
            self.resumes.append({"session_id": data.get("session_id"), "seq": data.get("seq")})
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return None
        session.ws = ws
        since = int(data.get("seq") or 0)
        for payload in session.log:
            if payload["s"] > since:
                await ws.send_str(json.dumps(payload))
        await self._send_event(session, "RESUMED", {})
        return session

    def _guild_create(self, guild_id: str) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        with self._lock:
            channels = [c for c in self.channels.values() if c.get("guild_id") == guild_id]
            members = list(self.members[guild_id].values())
        return {
            "id": guild_id,
            "name": guild["name"],
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": guild["owner_id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": guild["roles"],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _iso(),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": [c for c in channels if c["type"] != 11],
            "threads": [c for c in channels if c["type"] == 11],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }

    @staticmethod
    def _shard_of(guild_id: str, shard_count: int) -> int:
        return (int(guild_id) >> 22) % shard_count

    async def _dispatch(self, event: str, data: dict[str, Any], guild_id: str | None) -> None:
        for session in list(self._sessions.values()):
            if guild_id is None:
                if session.shard[0] != 0:
                    continue
            elif self._shard_of(guild_id, session.shard[1]) != session.shard[0]:
                continue
            await self._send_event(session, event, data)

    async def _send_event(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.log.append(payload)
        if session.ws is not None and not session.ws.closed:
            try:
                await session.ws.send_str(json.dumps(payload))
            except ConnectionError:
                session.ws = None

    async def _send_op_all(self, payload: dict[str, Any]) -> None:
        for session in list(self._sessions.values()):
            if session.ws is not None and not session.ws.closed:
                await session.ws.send_str(json.dumps({**payload, "s": None, "t": None}))

    async def _close_all(self, code: int = 4000) -> None:
        for session in list(self._sessions.values()):
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=code)
            session.ws = None


def _role(
    role_id: str, name: str, permissions: int, *, position: int, managed: bool = False
) -> dict[str, Any]:
    return {
        "id": role_id,
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py decodes a body only when Content-Type is exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _discord_error(status: int, code: int, message: str) -> web.Response:
    return _json_response({"message": message, "code": code}, status=status)


def _valid_webhook_username(name: str) -> bool:
    """Discord's rules for a webhook's username."""
    lowered = name.lower()
    return (
        1 <= len(name) <= 80
        and "discord" not in lowered
        and "clyde" not in lowered
        and lowered.strip() not in ("everyone", "here")
    )
