"""JSON schemas of the airline agent's tools.

The recorded trajectories name the tools and their arguments but do not carry
the schemas the agent was given, and the data set ships only the policy
(`wiki.md`). These schemas are written here from the arguments the recorded
calls actually pass (types, nested item shapes, enum values) and the
policy's wording. They need to be plausible rather than identical to the
original: what matters for cost is that every request carries a realistic
block of tool definitions (about a thousand tokens) in its cacheable prefix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_CABIN: dict[str, Any] = {"type": "string", "enum": ["basic_economy", "economy", "business"]}

_FLIGHT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "flight_number": {"type": "string", "description": "such as 'HAT001'"},
        "date": {"type": "string", "description": "YYYY-MM-DD"},
    },
    "required": ["flight_number", "date"],
}
_PASSENGER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "first_name": _STR,
        "last_name": _STR,
        "dob": {"type": "string", "description": "date of birth, YYYY-MM-DD"},
    },
    "required": ["first_name", "last_name", "dob"],
}
_PAYMENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "payment_id": {"type": "string", "description": "such as 'credit_card_7815826'"},
        "amount": {"type": "number"},
    },
    "required": ["payment_id", "amount"],
}
_ROUTE: dict[str, Any] = {
    "origin": {"type": "string", "description": "IATA code of the origin airport, such as 'JFK'"},
    "destination": {"type": "string", "description": "IATA code of the destination airport"},
    "date": {"type": "string", "description": "departure date, YYYY-MM-DD"},
}

# name -> (description, properties, required); read-only, copied on the way out.
_SPECS: Mapping[str, tuple[str, dict[str, Any], list[str]]] = MappingProxyType({
    "get_user_details": (
        "Get a user's profile: name, address, payment methods, saved passengers, reservations.",
        {"user_id": {"type": "string", "description": "such as 'sara_doe_496'"}},
        ["user_id"],
    ),
    "get_reservation_details": (
        "Get a reservation: flights, passengers, cabin, baggage, insurance, payments.",
        {"reservation_id": {"type": "string", "description": "six characters, such as '8JX2WO'"}},
        ["reservation_id"],
    ),
    "search_direct_flight": (
        "Search direct flights between two airports on a date.",
        dict(_ROUTE),
        ["origin", "destination", "date"],
    ),
    "search_onestop_flight": (
        "Search one-stop flights between two airports on a date.",
        dict(_ROUTE),
        ["origin", "destination", "date"],
    ),
    "list_all_airports": ("List every airport served, with its city.", {}, []),
    "calculate": (
        "Evaluate an arithmetic expression (numbers, + - * / and parentheses).",
        {"expression": {"type": "string", "description": "such as '2 * 3 + (4 - 1)'"}},
        ["expression"],
    ),
    "think": (
        "Write down reasoning; changes nothing and returns nothing.",
        {"thought": _STR},
        ["thought"],
    ),
    "transfer_to_human_agents": (
        "Hand the user over to a human agent, with a summary of the issue. Only when the "
        "request cannot be handled within the policy or the user explicitly asks for it.",
        {"summary": _STR},
        ["summary"],
    ),
    "book_reservation": (
        "Book a reservation. Needs the user's explicit confirmation first.",
        {
            "user_id": _STR,
            "origin": _STR,
            "destination": _STR,
            "flight_type": {"type": "string", "enum": ["one_way", "round_trip"]},
            "cabin": _CABIN,
            "flights": {"type": "array", "items": _FLIGHT},
            "passengers": {"type": "array", "items": _PASSENGER},
            "payment_methods": {"type": "array", "items": _PAYMENT},
            "total_baggages": _INT,
            "nonfree_baggages": _INT,
            "insurance": {"type": "string", "enum": ["yes", "no"]},
        },
        [
            "user_id", "origin", "destination", "flight_type", "cabin", "flights",
            "passengers", "payment_methods", "total_baggages", "nonfree_baggages", "insurance",
        ],
    ),
    "cancel_reservation": (
        "Cancel a whole reservation and refund it to the original payment methods.",
        {"reservation_id": _STR},
        ["reservation_id"],
    ),
    "update_reservation_flights": (
        "Change the flights or the cabin of a reservation; lists every flight of the new "
        "itinerary, changed or not.",
        {
            "reservation_id": _STR,
            "cabin": _CABIN,
            "flights": {"type": "array", "items": _FLIGHT},
            "payment_id": {"type": "string", "description": "pays or receives the difference"},
        },
        ["reservation_id", "cabin", "flights", "payment_id"],
    ),
    "update_reservation_baggages": (
        "Set the number of checked bags of a reservation.",
        {
            "reservation_id": _STR,
            "total_baggages": _INT,
            "nonfree_baggages": _INT,
            "payment_id": _STR,
        },
        ["reservation_id", "total_baggages", "nonfree_baggages", "payment_id"],
    ),
    "update_reservation_passengers": (
        "Replace the passengers of a reservation; the count cannot change.",
        {"reservation_id": _STR, "passengers": {"type": "array", "items": _PASSENGER}},
        ["reservation_id", "passengers"],
    ),
    "send_certificate": (
        "Send a travel certificate to a user as compensation, within the policy's limits.",
        {"user_id": _STR, "amount": {"type": "number", "description": "USD"}},
        ["user_id", "amount"],
    ),
})


def tool_names() -> list[str]:
    return list(_SPECS)


def openai_tools() -> list[dict[str, Any]]:
    """Tool definitions in OpenAI's `tools` format (fresh objects: callers may mutate)."""
    return copy.deepcopy([
        {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": _schema(properties, required),
            },
        }
        for name, (description, properties, required) in _SPECS.items()
    ])


def anthropic_tools() -> list[dict[str, Any]]:
    """The same tools in Anthropic's `tools` format."""
    return copy.deepcopy([
        {"name": name, "description": description, "input_schema": _schema(properties, required)}
        for name, (description, properties, required) in _SPECS.items()
    ])


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}
