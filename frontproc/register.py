"""``govshare submit-entry``: the department drafts and submits the catalog entry naming its 前置机, no code.

The entry is a JSON file in the catalog's own form (govshare.catalog.v1.Entry, as docs/api.md's REST calls
write it); the department's system from the 前置机's configuration (``platform``) creates it, or updates its
draft, and submits it for review. The authority publishes it — after the catalog has asked the 前置机 whether it
serves the entry (ProviderService.Describe).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, field_mask_pb2, json_format

from frontproc.config import ConfigError, FrontprocConfig, ResourceConfig, load
from frontproc.platform import authorization, edge_channel, failure, require_platform
from frontproc.store import entry_code_advice, entry_type_advice
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc

#: What a department may edit in its draft (the code names the entry; state, versions and times are the catalog's).
_EDITABLE = ("name", "summary", "category", "subject", "provider_name", "format_class", "format_type", "items",
             "key_item", "share_type", "share_condition", "share_methods", "legal_basis", "open_to_public",
             "open_condition", "update_cycle", "related_codes", "zone", "secrecy", "endpoint")


def read_entry(path: str) -> cat.Entry:
    """The entry in the JSON file ``path``; ConfigError saying what is wrong with it."""
    try:
        # utf-8-sig: Windows Notepad's UTF-8 starts the file with a byte order mark, which json refuses
        # ("Unexpected UTF-8 BOM").
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the entry ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the entry as UTF-8 JSON") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    # json_format takes any JSON value: an array (a list of entries, say) became an empty entry, and the catalog
    # then listed every field as missing instead of saying what was wrong with the file.
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the entry must be one JSON object (govshare.catalog.v1.Entry), not "
                          f"{_JSON_KINDS.get(type(document), type(document).__name__)}")
    try:
        return json_format.ParseDict(document, cat.Entry())
    except json_format.ParseError as exc:
        raise ConfigError(f"{path}: not a catalog entry: {exc}{_enum_choices(str(exc))}") from None


_INVALID_ENUM = re.compile(r"Invalid enum value (?P<value>.*) for enum type (?P<type>[\w.]+)")


def _enum_choices(message: str) -> str:
    """The values an enum field takes, when ``message`` (json_format's) refuses one: it named only the enum's type
    (``Invalid enum value 有条件共享 for enum type govshare.common.v1.ShareType``), and the data officer who wrote
    the share type in words, or UPDATE_CYCLE_MONTH for UPDATE_CYCLE_MONTHLY, had to find the proto to fix it."""
    match = _INVALID_ENUM.search(message)
    if match is None:
        return ""
    try:
        enum = descriptor_pool.Default().FindEnumTypeByName(match["type"])
    except KeyError:
        return ""
    return f" (write one of {', '.join(value.name for value in enum.values if value.number != 0)})"


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def endpoint_problems(config: FrontprocConfig, entry: cat.Entry) -> list[str]:
    """What the catalog's check at publication (ProviderService.Describe) would find wrong between the entry and
    this 前置机, said now to the data officer who can fix it.

    Found only at publication, these came back to the authority's reviewer as ENDPOINT_DOES_NOT_SERVE,
    ENDPOINT_MISSES_ITEMS or ENDPOINT_OF_ANOTHER_DEPARTMENT, with the entry already submitted (and not editable
    until returned); an endpoint.target other than this 前置机's ``endpoint`` makes every call's assertion be
    refused here (it is bound to the target), which the reviewer saw as an endpoint that does not answer.
    """
    target, dataset = entry.endpoint.target, entry.endpoint.dataset
    problems = []
    if not target:
        # An entry without a target is one of a dataset loaded to the platform (the foundation service's): one
        # submitted so was never served from this 前置机 — every query 库无 — and without an endpoint at all it was
        # refused by the catalog, the file telling neither; an empty target was answered "set `endpoint: `".
        datasets = dataset if dataset in config.resources else " or ".join(config.resources)
        problems.append(f"the entry names no endpoint.target: the platform would look for its records among data "
                        "loaded to it, never asking this 前置机; give \"endpoint\": {\"target\": "
                        f"\"{config.endpoint}\", \"dataset\": \"{datasets}\"}}")
        if not dataset:
            return problems
    elif target != config.endpoint:
        problems.append(f"the entry's endpoint.target {target!r} is not this 前置机's endpoint {config.endpoint!r}: "
                        f"the platform's assertions are bound to the target, so every call would be refused; set "
                        f"`endpoint: {target}` in {config.path}, or correct the entry")
    if entry.provider_department_code and entry.provider_department_code != config.department_code:
        problems.append(f"the entry's provider_department_code {entry.provider_department_code} is not this "
                        f"前置机's department.code {config.department_code}")
    resource = config.resources.get(dataset)
    if resource is None:
        problems.append(f"the entry's endpoint.dataset {dataset!r} is not served by {config.path} (it serves "
                        f"{', '.join(config.resources)})")
    else:
        if missing := [item.machine_name for item in entry.items if item.machine_name not in resource.items]:
            problems.append(f"items {', '.join(missing)} of the entry are not mapped in {config.path}'s resource "
                            f"{dataset!r} (it maps {', '.join(resource.items)})")
        problems.extend(_key_problems(config, entry, resource))
    return problems


def _key_problems(config: FrontprocConfig, entry: cat.Entry, resource: ResourceConfig) -> list[str]:
    """What differs between the entry's key and the one the 前置机 looks records up by.

    Nothing compared them, here or at publication (Describe names the items, not the key): an entry keyed by
    another item than ``key.item`` was published, and the platform asked the 前置机 for records by values of that
    item, which it looked up in its key column — INVALID_ARGUMENT, or a record of another key; a key item of
    another identifier kind than ``key.kind`` had its keys checked by other rules on either side.
    """
    if entry.key_item and entry.key_item != resource.key_item:
        return [f"the entry's key_item {entry.key_item!r} is not the item {config.path}'s resource "
                f"{resource.dataset!r} looks records up by (key.item: {resource.key_item}): the platform would ask "
                f"for records by {entry.key_item}; make them the same"]
    key = next((item for item in entry.items if item.machine_name == resource.key_item), None)
    if key is not None and key.identifier and key.identifier != resource.key_kind:
        kind = cat.IdentifierKind.Name(key.identifier).removeprefix("IDENTIFIER_KIND_").lower()
        return [f"the entry's key item {resource.key_item} is of identifier kind {kind}, but {config.path}'s "
                f"resource {resource.dataset!r} checks keys as {resource.key_kind_name} (key.kind): make them the "
                "same"]
    return []


class UnderReview(Exception):
    """The entry's latest version is under review with other contents than the file: the catalog takes no change
    until the authority publishes or returns it."""


@dataclass(frozen=True)
class Submitted:
    """What the catalog holds of the entry after ``submit``, and whether this run submitted it (False: the file
    was already published or submitted as it is)."""

    entry: cat.Entry
    now: bool


def _same(held: cat.Entry, entry: cat.Entry) -> bool:
    """Whether the catalog's version holds what the file says, field by field of what a department edits."""
    return all(_edited(held, name) == _edited(entry, name) for name in _EDITABLE)


def _edited(entry: cat.Entry, name: str) -> object:
    """Field ``name`` as a department writes it: a published version's items also carry what the catalog sets
    (``DataItem.listed_since``), which no file has, so a rerun on a published entry took it for a change."""
    if name != "items":
        return getattr(entry, name)
    items = [cat.DataItem() for _ in entry.items]
    for copy, item in zip(items, entry.items, strict=True):
        copy.CopyFrom(item)
        copy.ClearField("listed_since")
    return items


async def latest_version(catalog: catalog_pb2_grpc.CatalogServiceStub, code: str,
                  metadata: tuple[tuple[str, str], ...]) -> cat.Entry | None:
    """The entry's newest version the department sees (its draft or the one under review included), or None."""
    latest, token = None, ""
    try:
        while True:
            page = await catalog.ListEntryVersions(cat.ListEntryVersionsRequest(
                code=code, page_size=1000, page_token=token), metadata=metadata, timeout=10)
            latest = page.versions[-1] if page.versions else latest
            if not (token := page.next_page_token):
                return latest
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return None


async def submit(config: FrontprocConfig, entry: cat.Entry) -> Submitted:
    """Creates the entry (or updates the department's draft of it), then submits it; what the catalog holds.

    Run again with the file unchanged (a rerun of the deployment script, a retry after a lost answer), it made a
    published entry a new version for the authority to review, identical to the one it had published, and was
    refused FAILED_PRECONDITION for a version already under review: an entry published or submitted as the file
    has it is left as it is. A file changed while its entry is under review is UnderReview.
    """
    require_platform(config, "submit an entry")
    async with edge_channel(config) as channel:
        metadata = await authorization(channel, config)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        held = await latest_version(catalog, entry.code, metadata)
        if held is not None and held.state in _AS_FILED and _same(held, entry):
            return Submitted(held, now=False)
        if held is not None and held.state == cat.ENTRY_STATE_SUBMITTED:
            raise UnderReview(f"{entry.code} version {held.version} is under review with other contents than the "
                              "file: the catalog takes a change once the authority has published or returned it; "
                              "run this again then")
        if held is None:
            await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=metadata, timeout=10)
        else:
            await catalog.UpdateEntry(cat.UpdateEntryRequest(
                entry=entry, update_mask=field_mask_pb2.FieldMask(paths=list(_EDITABLE))), metadata=metadata,
                timeout=10)
        submitted = await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=metadata,
                                              timeout=10)
    return Submitted(submitted.entry, now=True)


#: States in which an entry the file describes as it is needs nothing more from the department.
_AS_FILED = (cat.ENTRY_STATE_PUBLISHED, cat.ENTRY_STATE_SUBMITTED)


def main(config_path: str, entry_path: str) -> int:
    try:
        config = load(config_path)
        entry = read_entry(entry_path)
        if problems := endpoint_problems(config, entry):
            raise ConfigError(f"{entry_path}: the catalog would not publish it, as this 前置机 does not serve it:\n  - "
                              + "\n  - ".join(problems))
        # Advice, not a refusal: the catalog publishes either way, and only the department knows which side is right.
        for warning in [*entry_code_advice(config, entry_path, entry),
                        *asyncio.run(entry_type_advice(config, entry_path, entry))]:
            print(f"govshare submit-entry: WARNING: {warning}", file=sys.stderr)
        submitted = asyncio.run(submit(config, entry))
    except ConfigError as exc:
        print(f"govshare submit-entry: {exc}", file=sys.stderr)
        return 2
    except UnderReview as exc:
        print(f"govshare submit-entry: {exc}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as exc:
        print(failure("submit-entry", "catalog", config, exc), file=sys.stderr)
        return 1
    held = submitted.entry
    if not submitted.now:
        state = "published" if held.state == cat.ENTRY_STATE_PUBLISHED else "under review"
        print(f"{held.code} version {held.version} is {state} as {entry_path} has it: nothing submitted")
        return 0
    print(f"{held.code} version {held.version} submitted: the authority reviews it, and the catalog asks "
          f"{held.endpoint.target} whether it serves {held.endpoint.dataset} before publishing")
    return 0
