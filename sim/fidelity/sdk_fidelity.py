"""SDK fidelity test: drives a running genesys-sim with Genesys' official Python SDK
(PureCloudPlatformClientV2, pinned in run.sh) and a plain `websockets` client.

Owns: the assertions that every REST answer of the sim deserializes through the SDK's own models (the SDK
does that inside each method; the test then asserts typed fields), that no enum value of the sim is unknown
to the SDK (the SDK silently maps those to "outdated_sdk_version", which this test treats as a failure), and
that the WebSocket envelope, ping/pong and a 429 rate-limit storm look the way the SDK and PROTOCOL.md expect.
Nothing in the SDK is patched: the only setting changed is `configuration.host` (plus `ssl_ca_cert` when the
sim serves TLS). The SDK derives the login host by replacing `//api.` with `//login.`; `127.0.0.1` has no
`api.` label, so login goes to the same host, where the sim serves `/oauth/token` too (asserted below).

Usage: python sdk_fidelity.py API_BASE [CA_PEM_PATH]
Prints one line per test and closes with `fidelity: N passed, N failed`; exit status 1 on any failure.
"""

import asyncio
import datetime
import json
import re
import ssl
import sys
import time
import traceback
import urllib.parse
import urllib.request
import warnings

import PureCloudPlatformClientV2 as gc
import PureCloudPlatformClientV2.default_http_client  # noqa: F401 - gc.default_http_client below
import urllib3
from PureCloudPlatformClientV2.rest import ApiException
import websockets

API_BASE = sys.argv[1].rstrip("/")
CA_PEM = sys.argv[2] if len(sys.argv) > 2 else None
CLIENT_ID, CLIENT_SECRET = "sim-client", "sim-secret"
UNKNOWN_ENUM = "outdated_sdk_version"
CHANNEL_ID = re.compile(r"^streaming-\d-[a-z0-9]{26}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SYSTEM_PRESENCES = {"AVAILABLE", "AWAY", "BUSY", "OFFLINE", "IDLE", "ON_QUEUE", "MEAL", "TRAINING", "MEETING", "BREAK"}
ROUTING_STATUSES = {"OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING"}

gc.configuration.host = API_BASE
if CA_PEM:
    gc.configuration.ssl_ca_cert = CA_PEM
SSL_CONTEXT = ssl.create_default_context(cafile=CA_PEM) if CA_PEM else None

TESTS = []
STATE = {}


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def no_unknown_enums(obj, where):
    """Fails if any value the SDK deserialized is its unknown-enum marker (it never raises for those)."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj

    def walk(v, path):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{path}.{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")
        elif v == UNKNOWN_ENUM:
            raise AssertionError(f"{where}: the SDK does not know the value at {path}")

    walk(data, where)


def sim(method, path, body=None):
    """Unauthenticated /sim/* control call; returns parsed JSON."""
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"{API_BASE}{path}", data=data if method != "GET" else None, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10, context=SSL_CONTEXT) as r:
        return json.loads(r.read() or b"null")


def client():
    return STATE["client"]


def topic(topic_id):
    """A ChannelTopic (the SDK's models take no constructor arguments)."""
    t = gc.ChannelTopic()
    t.id = topic_id
    return t


def presence_key(system_presence):
    """systemPresence casing differs by API (`ON_QUEUE`, `On Queue`, `OnQueue`): compare normalised."""
    return system_presence.replace(" ", "").replace("_", "").upper()


def users():
    return STATE["population"]["users"]


def aware(dt):
    return isinstance(dt, datetime.datetime) and dt.tzinfo is not None


# ---- OAuth ----------------------------------------------------------------------------------------------


@test
def login_client_credentials():
    api_client = gc.api_client.ApiClient()
    check(api_client.get_conf_url("login", api_client.host) == API_BASE,
          "login host for a non-`api.` host is the API host itself")
    returned = api_client.get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
    check(returned is api_client, "get_client_credentials_token returns the client")
    check(isinstance(api_client.access_token, str) and len(api_client.access_token) > 20, "access token set")
    STATE["client"] = api_client
    STATE["population"] = sim("GET", "/sim/population")


@test
def login_with_a_bad_secret_is_refused():
    try:
        gc.api_client.ApiClient().get_client_credentials_token(CLIENT_ID, "wrong")
    except ApiException as e:
        check(e.status in (400, 401), f"status {e.status}")
        return
    raise AssertionError("bad secret accepted")


@test
def an_invalid_token_gets_401():
    bad = gc.api_client.ApiClient()
    bad.access_token = "not-a-token"
    try:
        gc.NotificationsApi(bad).get_notifications_channels()
    except ApiException as e:
        check(e.status == 401, f"status {e.status}")
        body = json.loads(e.body)
        check(body.get("status") == 401 and "code" in body and "message" in body, f"ErrorBody {body}")
        return
    raise AssertionError("invalid token accepted")


# ---- Notifications: channels and subscriptions -------------------------------------------------------------


@test
def create_channel():
    ch = gc.NotificationsApi(client()).post_notifications_channels()
    check(isinstance(ch, gc.Channel), f"type {type(ch)}")
    check(CHANNEL_ID.match(ch.id), f"channel id {ch.id}")
    scheme = "wss://" if API_BASE.startswith("https://") else "ws://"
    check(ch.connect_uri.startswith(scheme) and ch.connect_uri.endswith(f"/channels/{ch.id}"),
          f"connect_uri {ch.connect_uri}")
    check(aware(ch.expires), f"expires {ch.expires!r}")
    hours = (ch.expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 3600
    check(23.9 < hours < 24.1, f"expires in {hours:.2f} h")
    STATE["channel"] = ch


@test
def list_channels():
    api = gc.NotificationsApi(client())
    for include in (None, "token", "oauthclient"):
        listing = api.get_notifications_channels(includechannels=include) if include else \
            api.get_notifications_channels()
        check(isinstance(listing, gc.ChannelEntityListing), f"type {type(listing)}")
        ids = [c.id for c in listing.entities]
        check(STATE["channel"].id in ids, f"{include}: {ids}")
        check(all(aware(c.expires) for c in listing.entities if c.id == STATE["channel"].id), "expires typed")


@test
def head_channel():
    api = gc.NotificationsApi(client())
    check(api.head_notifications_channel(STATE["channel"].id) is None, "HEAD of a live channel is 200, no body")
    try:
        api.head_notifications_channel("streaming-0-aaaaaaaaaaaaaaaaaaaaaaaaaa")
    except ApiException as e:
        check(e.status == 404, f"status {e.status}")
        return
    raise AssertionError("HEAD of an unknown channel succeeded")


@test
def subscriptions_put_post_get_delete():
    api = gc.NotificationsApi(client())
    ch = STATE["channel"].id
    u = users()
    combined = f"v2.users.{u[0]}?presence&routingStatus"
    single = f"v2.users.{u[1]}.presence"

    put = api.put_notifications_channel_subscriptions(ch, [topic(combined)])
    check(isinstance(put, gc.ChannelTopicEntityListing), f"type {type(put)}")
    no_unknown_enums(put, "PUT")
    check([t.id for t in put.entities] == [combined], f"PUT entities {[t.id for t in put.entities]}")

    post = api.post_notifications_channel_subscriptions(ch, [topic(single)])
    no_unknown_enums(post, "POST")
    check({t.id for t in post.entities} == {combined, single}, f"POST adds: {[t.id for t in post.entities]}")

    again = api.post_notifications_channel_subscriptions(ch, [topic(single)])
    check(len(again.entities) == 2, "POST of an existing topic is idempotent")

    got = api.get_notifications_channel_subscriptions(ch)
    check(isinstance(got, gc.ChannelTopicEntityListing), f"type {type(got)}")
    check({t.id for t in got.entities} == {combined, single}, f"GET {[t.id for t in got.entities]}")

    check(api.delete_notifications_channel_subscriptions(ch) is None, "DELETE returns nothing")
    check(api.get_notifications_channel_subscriptions(ch).entities in ([], None), "DELETE removed all")


@test
def subscriptions_ignore_errors():
    api = gc.NotificationsApi(client())
    ch = STATE["channel"].id
    good = f"v2.users.{users()[2]}.routingStatus"
    bad = "v2.no.such.topic.family"
    try:
        api.put_notifications_channel_subscriptions(ch, [topic(good), topic(bad)])
    except ApiException as e:
        check(e.status == 400, f"without ignore_errors: status {e.status}")
    else:
        raise AssertionError("a bad topic without ignore_errors was accepted")
    for call in (api.put_notifications_channel_subscriptions, api.post_notifications_channel_subscriptions):
        listing = call(ch, [topic(good), topic(bad)], ignore_errors=True)
        no_unknown_enums(listing, call.__name__)
        by_id = {t.id: t for t in listing.entities}
        check(good in by_id and bad in by_id, f"{call.__name__}: both topics listed: {list(by_id)}")
        check(by_id[good].state in (None, "Permitted"), f"good topic state {by_id[good].state}")
        check(by_id[bad].state == "Rejected", f"bad topic state {by_id[bad].state}")
        check(by_id[bad].rejection_reason, "bad topic has a rejection reason")
    api.delete_notifications_channel_subscriptions(ch)


# ---- Presence ---------------------------------------------------------------------------------------------


@test
def bulk_presence_matches_truth():
    truth = sim("GET", "/sim/truth")["agents"]
    ids = users()[:50]
    got = gc.PresenceApi(client()).get_users_presences_purecloud_bulk(id=ids)
    check(isinstance(got, list) and len(got) == len(ids), f"{len(got)} of {len(ids)}")
    for p in got:
        check(isinstance(p, gc.UcUserPresence), f"type {type(p)}")
        no_unknown_enums(p, "UcUserPresence")
        uid = p.user_id or p.id
        check(uid in truth, f"unknown user {uid}")
        check(presence_key(p.presence_definition.system_presence) == presence_key(truth[uid]["system_presence"]),
              f"{uid}: {p.presence_definition.system_presence} vs {truth[uid]['system_presence']}")
        check(p.presence_definition.id == truth[uid]["presence_id"], "definition id")
        check(p.modified_date is None or aware(p.modified_date), "modified_date typed")


@test
def single_user_presence():
    u = users()[3]
    p = gc.PresenceApi(client()).get_user_presences_purecloud(u)
    check(isinstance(p, gc.UserPresence), f"type {type(p)}")
    no_unknown_enums(p, "UserPresence")
    check(presence_key(p.presence_definition.system_presence) in {presence_key(s) for s in SYSTEM_PRESENCES},
          p.presence_definition.system_presence)


@test
def presence_definitions_new_and_legacy():
    api = gc.PresenceApi(client())
    new = api.get_presence_definitions()
    check(isinstance(new, gc.OrganizationPresenceDefinitionEntityListing), f"type {type(new)}")
    no_unknown_enums(new, "presence/definitions")
    check(new.entities and all(d.id and d.system_presence for d in new.entities), "definitions typed")
    with warnings.catch_warnings(record=True):  # the SDK warns that the legacy endpoint is deprecated
        legacy = api.get_presencedefinitions()
    check(isinstance(legacy, gc.OrganizationPresenceEntityListing), f"type {type(legacy)}")
    no_unknown_enums(legacy, "presencedefinitions")
    check(legacy.entities and all(d.id and d.system_presence for d in legacy.entities), "legacy typed")
    check({d.id for d in new.entities} == {d.id for d in legacy.entities}, "same definitions in both")
    sp = api.get_systempresences()
    check(isinstance(sp, list) and sp and all(isinstance(s, gc.SystemPresence) for s in sp), "system presences")


# ---- Routing and users --------------------------------------------------------------------------------------


@test
def queue_members_paging_via_next_uri():
    api = gc.RoutingApi(client())
    truth = sim("GET", "/sim/truth")
    queue = STATE["population"]["queues"][0]
    expected = {a for a, t in truth["agents"].items() if queue in t["queues"]}
    seen, page, pages = [], 1, 0
    while True:
        listing = api.get_routing_queue_members(queue, page_size=5, page_number=page)
        check(isinstance(listing, gc.QueueMemberEntityListing), f"type {type(listing)}")
        no_unknown_enums(listing, "QueueMemberEntityListing")
        pages += 1
        for m in listing.entities or []:
            check(UUID.match(m.id), f"member id {m.id}")
            seen.append(m.id)
        if not listing.next_uri:
            break
        q = urllib.parse.parse_qs(urllib.parse.urlparse(listing.next_uri).query)
        page = int(q["pageNumber"][0])
        check(pages < 100, "paging terminates")
    check(len(seen) == len(set(seen)), "no member twice")
    check(set(seen) == expected, f"members {len(seen)} vs truth {len(expected)}")
    check(pages > 1 or len(expected) <= 5, "more than one page walked")


@test
def users_by_id_with_expand():
    api = gc.UsersApi(client())
    truth = sim("GET", "/sim/truth")["agents"]
    ids = users()[:10]
    listing = api.get_users(id=ids, expand=["presence", "routingStatus"], page_size=25)
    check(isinstance(listing, gc.UserEntityListing), f"type {type(listing)}")
    no_unknown_enums(listing, "UserEntityListing")
    check(sorted(u.id for u in listing.entities) == sorted(ids), "the requested users")
    first = listing.entities[0]
    check(first.name and first.state, "user fields")
    for u in listing.entities:
        check(u.presence is not None and u.routing_status is not None, f"{u.id}: expand honoured")
        check(presence_key(u.presence.presence_definition.system_presence)
              == presence_key(truth[u.id]["system_presence"]),
              "presence")
        check(u.routing_status.status == truth[u.id]["routing_status"], "routing status")


@test
def user_routing_status():
    u = users()[4]
    rs = gc.UsersApi(client()).get_user_routingstatus(u)
    check(isinstance(rs, gc.RoutingStatus), f"type {type(rs)}")
    no_unknown_enums(rs, "RoutingStatus")
    check(rs.user_id == u and rs.status in ROUTING_STATUSES, f"{rs.user_id} {rs.status}")
    check(aware(rs.start_time), f"start_time {rs.start_time!r}")


# ---- WebSocket ----------------------------------------------------------------------------------------------


async def ws_session(connect_uri, subscribed, user_ids):
    ws_ssl = SSL_CONTEXT if connect_uri.startswith("wss://") else None
    async with websockets.connect(connect_uri, ssl=ws_ssl, open_timeout=10) as ws:
        sim("POST", "/sim/step?n=400")
        for u in user_ids:  # and a scripted change per user, so events for them are certain
            sim("POST", f"/sim/routing?user={u}&status=OFF_QUEUE")
        events = []
        deadline = time.monotonic() + 10
        while len(events) < len(user_ids) and time.monotonic() < deadline:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if frame.get("topicName") == "channel.metadata":
                continue
            events.append(frame)
        check(len(events) >= len(user_ids), f"{len(events)} events received")
        api_client = client()
        for e in events:
            check(set(e) >= {"topicName", "version", "eventBody", "metadata"}, f"envelope keys {list(e)}")
            check(e["version"] == "2", f"version {e['version']!r}")
            check(isinstance(e["metadata"].get("CorrelationId"), str), "metadata.CorrelationId")
            topic = e["topicName"]
            check(topic in subscribed, f"unsubscribed topic delivered: {topic}")
            # The event bodies through the SDK's notification models.
            model = "PresenceEventUserPresence" if topic.endswith(".presence") else \
                "UserRoutingStatusUserRoutingStatus"
            body = api_client._ApiClient__deserialize(e["eventBody"], model)
            no_unknown_enums(body, model)
            if model == "UserRoutingStatusUserRoutingStatus":
                check(body.routing_status.status in ROUTING_STATUSES, f"status {body.routing_status.status}")
        await ws.send(json.dumps({"message": "ping"}))
        deadline = time.monotonic() + 5
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            if frame.get("eventBody", {}).get("message") == "pong":
                check(frame["topicName"] == "channel.metadata", "pong topic")
                break
            check(time.monotonic() < deadline, "pong in time")
        await ws.send(json.dumps({"message": "subscribe", "topics": [f"v2.users.{user_ids[0]}.activity"],
                                  "correlationId": "fidelity-1"}))
        deadline = time.monotonic() + 5
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            if "result" in frame:
                check(frame["result"] == "200" and frame.get("correlationId") == "fidelity-1", f"reply {frame}")
                break
            check(time.monotonic() < deadline, "subscribe reply in time")


@test
def websocket_events_ping_and_envelopes():
    api = gc.NotificationsApi(client())
    ch = api.post_notifications_channels()
    picked = users()[5:10]
    topics = [f"v2.users.{u}?presence&routingStatus" for u in picked]
    api.put_notifications_channel_subscriptions(ch.id, [topic(t) for t in topics])
    subscribed = {f"v2.users.{u}.{s}" for u in picked for s in ("presence", "routingStatus")}
    asyncio.run(ws_session(ch.connect_uri, subscribed, picked))


# ---- Rate limiting (last: the second test leaves the sim's clock advanced) -----------------------------------


@test
def rate_limit_storm_is_retried_by_the_sdk_after_retry_after():
    """The SDK's urllib3 pool (Retry() with Retry-After respected) sleeps Retry-After seconds and retries: a
    2 s storm is invisible to the caller except for the wait, which proves the sim's header is parseable."""
    api = gc.NotificationsApi(client())
    before = sim("GET", "/sim/stats")["rate_limited"]
    sim("POST", "/sim/fault", {"RateLimitStorm": {"secs": 2}})
    started = time.monotonic()
    listing = api.get_notifications_channels()
    waited = time.monotonic() - started
    check(isinstance(listing, gc.ChannelEntityListing), "served after the storm")
    check(sim("GET", "/sim/stats")["rate_limited"] > before, "the first attempt was answered 429")
    check(1.0 <= waited < 6.0, f"waited {waited:.2f} s for Retry-After 2")


@test
def rate_limit_storm_gives_api_exception_429_with_retry_after():
    """With its transport's automatic retries off (an ApiClient given a DefaultHttpClient through the SDK's
    own set_http_client hook; SDK code untouched), the SDK surfaces the 429 as ApiException."""
    no_retry = gc.api_client.ApiClient()
    http = gc.default_http_client.DefaultHttpClient()
    http.rest_client.pool_manager.connection_pool_kw["retries"] = urllib3.util.Retry(total=0)
    no_retry.set_http_client(http)
    no_retry.access_token = client().access_token
    api = gc.NotificationsApi(no_retry)
    sim("POST", "/sim/fault", {"RateLimitStorm": {"secs": 5}})
    try:
        api.get_notifications_channels()
    except ApiException as e:
        check(e.status == 429, f"status {e.status}")
        headers = {k.lower(): v for k, v in e.headers.items()}
        check("retry-after" in headers, f"headers {dict(e.headers)}")
        secs = int(headers["retry-after"])
        check(1 <= secs <= 5, f"Retry-After {secs}")
        body = json.loads(e.body)
        check(body.get("code") == "too.many.requests.retry.after" and body.get("status") == 429, f"body {body}")
    else:
        raise AssertionError("no 429 during a storm")
    sim("POST", "/sim/advance?ms=5000")  # end the storm in sim time instead of waiting
    check(isinstance(api.get_notifications_channels(), gc.ChannelEntityListing), "served again after the storm")


def main():
    passed = failed = 0
    for fn in TESTS:
        started = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3, file=sys.stdout)
            if fn is login_client_credentials:
                break  # nothing else can run without a token
        else:
            passed += 1
            print(f"ok   {fn.__name__} ({time.monotonic() - started:.2f} s)")
    print(f"fidelity: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
