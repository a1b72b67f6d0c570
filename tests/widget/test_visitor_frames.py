"""The frames the widget sends about its visitor (context, identify, contact, attributes,
track), on both backends: what agents of the space hear, what is stored, what is refused."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from chat.identity import identity_signature
from tests.servers import ServerProcess
from tests.widget.conftest import connect_agent, make_space, visitor_profile
from tests.wsclient import ChatClient, visitor_token

UA = "Mozilla/5.0 (X11; Linux x86_64) CausetteTest/1.0"


async def visitor(server: ServerProcess, space: str) -> tuple[ChatClient, str]:
    data = await visitor_token(server.base_url, space)
    client = await ChatClient.connect(
        server.ws_url, "/ws/visitor", data["token"], user_agent_header=UA
    )
    return client, data["visitor_id"]


def context(url: str, **extra: str) -> dict[str, Any]:
    return {
        "type": "context",
        "url": url,
        "referrer": "",
        "locale": "fr-FR",
        "title": "Shop",
    } | extra


async def test_context_reaches_the_agents_of_its_space_only(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [])
    other, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    stranger = await connect_agent(server, other)
    v, visitor_id = await visitor(server, space)

    await v.send(context("https://shop.example/tea?x=1", referrer="https://search.example/"))
    frame = await agent.expect("visitor")
    seen = frame["visitor"]
    assert seen["id"] == visitor_id
    assert seen["context"]["url"] == "https://shop.example/tea?x=1"
    assert seen["context"]["referrer"] == "https://search.example/"
    assert seen["context"]["locale"] == "fr-FR"
    assert seen["context"]["user_agent"] == UA  # from the handshake, not from the page
    assert seen["context"]["updated_at"].endswith("Z")

    # the same context again (a reconnect) is not news; a page change is
    await v.send(context("https://shop.example/tea?x=1", referrer="https://search.example/"))
    await v.send(context("https://shop.example/cart", title="Cart"))
    frame = await agent.expect("visitor")
    assert frame["visitor"]["context"]["url"] == "https://shop.example/cart"
    assert frame["visitor"]["context"]["title"] == "Cart"

    # the other space's agent heard nothing: prove its socket is live, then look
    w, _ = await visitor(server, other)
    await w.send(context("https://retail.example/"))
    heard = await stranger.expect("visitor")
    assert heard["visitor"]["context"]["url"] == "https://retail.example/"
    assert all(f["visitor"]["id"] != visitor_id for f in stranger.frames if f["type"] == "visitor")
    profile = await visitor_profile(server.database_url, visitor_id, space)
    assert profile["context"]["url"] == "https://shop.example/cart"
    for client in (v, w, agent, stranger):
        await client.close()


async def test_identify_in_each_mode(server: ServerProcess) -> None:
    off, _ = await make_space(server.database_url, [], identity_mode="off")
    optional, opt_secret = await make_space(server.database_url, [], identity_mode="optional")
    enforce, secret = await make_space(server.database_url, [], identity_mode="enforce")

    # off: taken as the site says, never verified
    agent = await connect_agent(server, off)
    v, _ = await visitor(server, off)
    opened = [agent, v]
    await v.send({"type": "identify", "id": "u-1", "name": "Ada", "email": "ada@example.com"})
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["external_id"], seen["name"], seen["email"], seen["verified"]) == (
        "u-1",
        "Ada",
        "ada@example.com",
        False,
    )

    # optional: a right signature verifies, a wrong one is refused, none is accepted unverified
    agent = await connect_agent(server, optional)
    v, _ = await visitor(server, optional)
    opened += [agent, v]
    await v.send({"type": "identify", "id": "u-2", "signature": "0" * 64})
    assert (await v.expect("error"))["code"] == "identity_refused"
    await v.send(
        {"type": "identify", "id": "u-2", "signature": identity_signature(opt_secret, "u-2")}
    )
    assert (await agent.expect("visitor"))["visitor"]["verified"] is True
    w, _ = await visitor(server, optional)
    opened.append(w)
    await w.send({"type": "identify", "id": "u-3", "name": "Bo"})
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["external_id"], seen["verified"]) == ("u-3", False)

    # enforce: unsigned or wrongly signed is refused; nothing reaches the agents
    agent = await connect_agent(server, enforce)
    v, visitor_id = await visitor(server, enforce)
    opened += [agent, v]
    await v.send({"type": "identify", "id": "u-4", "name": "Eve"})
    refused = await v.expect("error")
    assert refused["code"] == "identity_refused"
    await v.send({"type": "identify", "id": "u-4", "signature": identity_signature(secret, "u-5")})
    assert (await v.expect("error"))["code"] == "identity_refused"
    signature = identity_signature(secret, "u-4").upper()  # hex in either case
    await v.send({"type": "identify", "id": "u-4", "name": "Lin", "signature": signature})
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["id"], seen["external_id"], seen["name"], seen["verified"]) == (
        visitor_id,
        "u-4",
        "Lin",
        True,
    )
    assert len([f for f in agent.frames if f["type"] == "visitor"]) == 1  # refusals say nothing
    assert secret not in json.dumps(v.frames)
    profile = await visitor_profile(server.database_url, visitor_id, enforce)
    assert profile["external_id"] == "u-4" and profile["verified"] is True
    for client in opened:
        await client.close()


async def test_a_verified_id_moves_to_the_last_visitor_and_is_never_taken_unverified(
    server: ServerProcess,
) -> None:
    space, secret = await make_space(server.database_url, [], identity_mode="optional")
    signed = {"type": "identify", "id": "user-9", "signature": identity_signature(secret, "user-9")}
    agent = await connect_agent(server, space)
    first, first_id = await visitor(server, space)
    await first.send(signed)
    await agent.expect("visitor")
    # an unsigned claim of a verified id gets no id at all
    squatter, squatter_id = await visitor(server, space)
    await squatter.send({"type": "identify", "id": "user-9", "name": "Mallory"})
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["id"], seen["external_id"], seen["verified"]) == (squatter_id, None, False)
    # the same person on a new device, signed: the id moves there
    second, second_id = await visitor(server, space)
    await second.send(signed)
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["id"], seen["external_id"], seen["verified"]) == (second_id, "user-9", True)
    old = await visitor_profile(server.database_url, first_id, space)
    assert old["external_id"] is None
    for client in (first, squatter, second, agent):
        await client.close()


async def test_attributes_merge_within_bounds(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    v, visitor_id = await visitor(server, space)
    await v.send({"type": "attributes", "attributes": {"plan": "gold", "orders": 3, "vip": False}})
    assert (await agent.expect("visitor"))["visitor"]["attributes"] == {
        "plan": "gold",
        "orders": 3,
        "vip": False,
    }
    await v.send({"type": "attributes", "attributes": {"orders": None, "vip": True, "ltv": 12.5}})
    assert (await agent.expect("visitor"))["visitor"]["attributes"] == {
        "plan": "gold",
        "vip": True,
        "ltv": 12.5,
    }

    bad = [
        {"type": "attributes", "attributes": {"nested": {"a": 1}}},
        {"type": "attributes", "attributes": {"list": [1, 2]}},
        {"type": "attributes", "attributes": {"bad key!": 1}},
        {"type": "attributes", "attributes": {"long": "x" * 501}},
        {"type": "attributes", "attributes": {f"k{i}": i for i in range(51)}},
        {"type": "track", "event": "x", "props": {f"k{i}": i for i in range(21)}},
    ]
    for frame in bad:
        await v.send(frame)
        assert (await v.expect("error"))["code"] == "invalid_frame", frame
    await v.send('{"type":"attributes","attributes":{"n":NaN}}')
    assert (await v.expect("error"))["code"] == "invalid_frame"
    # 48 more keys fit in one frame but not on top of the 3 already there
    await v.send({"type": "attributes", "attributes": {f"k{i}": i for i in range(48)}})
    error = await v.expect("error")
    assert (error["code"], "at most 50" in error["message"]) == ("invalid_frame", True)
    profile = await visitor_profile(server.database_url, visitor_id, space)
    assert profile["attributes"] == {"plan": "gold", "vip": True, "ltv": 12.5}
    await v.close()
    await agent.close()


async def test_track_is_passed_on_and_contact_is_stored(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    v, visitor_id = await visitor(server, space)
    await v.send({"type": "track", "event": "Viewed product", "props": {"sku": "TEA-1", "n": 2}})
    track = await agent.expect("track")
    assert (track["visitor_id"], track["event"], track["props"]) == (
        visitor_id,
        "Viewed product",
        {"sku": "TEA-1", "n": 2},
    )
    await v.send({"type": "contact", "email": "not-an-email"})
    assert (await v.expect("error"))["code"] == "invalid_frame"
    await v.send({"type": "contact", "name": " Noor ", "email": "noor@example.com"})
    seen = (await agent.expect("visitor"))["visitor"]
    assert (seen["name"], seen["email"]) == ("Noor", "noor@example.com")
    # the message still goes the normal way, into the space's queue, under the typed name
    ack = await v.say("Please call me back")
    message = await agent.expect("message", client_id=ack["client_id"])
    assert message["author"]["name"] == "Noor"
    await v.close()
    await agent.close()


async def test_agents_cannot_describe_visitors(server: ServerProcess) -> None:
    space, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    for frame in (
        context("https://shop.example/"),
        {"type": "identify", "id": "x"},
        {"type": "attributes", "attributes": {"a": 1}},
        {"type": "track", "event": "e"},
        {"type": "contact", "name": "n"},
    ):
        await agent.send(frame)
        assert (await agent.expect("error"))["code"] == "not_allowed"
    await agent.close()


async def test_a_flood_of_hint_frames_is_cut_at_the_allowance(server: ServerProcess) -> None:
    """A visitor socket sends 100 ``track`` then 100 ``typing`` frames back to back (the
    default allowance is 10 a second, 30 in a row). Figures: the agent gets between 30 and
    30 + 10/s x elapsed + 1 tracks, every other track is answered ``rate_limited`` with
    ``retryable``; typing beyond the allowance is dropped without an error; the ``contact``
    and the message sent after the flood are still taken (their allowances are not the
    hints'); a track sent once tokens came back passes."""
    space, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    v, visitor_id = await visitor(server, space)
    opened = await v.say("hello")  # typing needs a conversation to type into
    await agent.expect("message", client_id=opened["client_id"])

    started = time.monotonic()
    for i in range(100):
        await v.send({"type": "track", "event": "Scrolled", "props": {"i": i}})
    for _ in range(100):
        await v.send({"type": "typing"})
    await v.send({"type": "contact", "name": "Noor", "email": "noor@example.com"})
    last = await v.say("after the flood")
    elapsed = time.monotonic() - started
    await agent.expect("message", client_id=last["client_id"])

    index = next(n for n, f in enumerate(agent.frames) if f.get("client_id") == last["client_id"])
    heard = agent.frames[:index]
    tracks = [f for f in heard if f["type"] == "track" and f["visitor_id"] == visitor_id]
    typing = [f for f in heard if f["type"] == "typing"]
    assert 30 <= len(tracks) <= 30 + math.ceil(10 * elapsed) + 1
    assert [f["props"]["i"] for f in tracks][:30] == list(range(30))  # the first ones passed
    errors = [f for f in v.frames if f["type"] == "error"]
    assert len(errors) == 100 - len(tracks)
    assert {(e["code"], e["retryable"]) for e in errors} == {("rate_limited", True)}
    # typing draws on the same allowance: both together stay within it
    assert len(tracks) + len(typing) <= 30 + math.ceil(10 * elapsed) + 1
    profile = [f["visitor"] for f in heard if f["type"] == "visitor"]
    assert [(p["name"], p["email"]) for p in profile] == [("Noor", "noor@example.com")]

    await asyncio.sleep(0.3)  # the allowance is time itself: let three tokens come back
    await v.send({"type": "track", "event": "Came back"})
    assert (await agent.expect("track", event="Came back"))["visitor_id"] == visitor_id
    await v.close()
    await agent.close()


async def test_a_name_given_in_one_tab_is_the_author_name_in_the_others(
    server: ServerProcess,
) -> None:
    """Two tabs of one visitor; the first sends ``contact`` with a name. Figures: the agent's
    next live message and typing from the *second* tab carry that name (before, only the
    tab that sent it did until the others reconnected), and so does the stored history."""
    space, _ = await make_space(server.database_url, [])
    agent = await connect_agent(server, space)
    data = await visitor_token(server.base_url, space)
    tab1 = await ChatClient.connect(server.ws_url, "/ws/visitor", data["token"])
    tab2 = await ChatClient.connect(server.ws_url, "/ws/visitor", data["token"])
    first = await tab2.say("before")
    before = await agent.expect("message", client_id=first["client_id"])
    assert before["author"]["name"] is None

    await tab1.send({"type": "contact", "name": "Noor"})
    assert (await agent.expect("visitor"))["visitor"]["name"] == "Noor"
    await tab2.send({"type": "typing"})
    assert (await agent.expect("typing"))["author"]["name"] == "Noor"
    after = await tab2.say("after")
    message = await agent.expect("message", client_id=after["client_id"])
    assert message["author"] == {"kind": "visitor", "id": data["visitor_id"], "name": "Noor"}
    await tab2.send({"type": "history", "conversation_id": after["conversation_id"]})
    history = await tab2.expect("history")
    assert {m["author"]["name"] for m in history["messages"]} == {"Noor"}
    for client in (tab1, tab2, agent):
        await client.close()
