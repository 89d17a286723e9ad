"""Every page of a listing (``List*``, ``SearchEntries``): the ``page_token`` loop each business system wrote.

Every list of the platform pages (AIP-158, docs/api.md "Every list pages"): ``page_size``, ``page_token`` and the
answer's ``next_page_token``, empty on the last page. Written by hand, the loop was easy to get wrong: forgetting
to send the filters again with the token (refused: a token is bound to its listing), stopping at the first page,
or looping for ever on a token sent back unchanged.

    for page in pages(client.stub(catalog_pb2_grpc.CatalogServiceStub).ListEntries, request):
        for entry in page.entries: ...
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Protocol, TypeVar

from govshare_client.calls import AsyncUnaryUnary, UnaryUnary


class PagedRequest(Protocol):
    """A listing's request: the token of the page to read (empty: the first)."""

    page_token: str


class Page(Protocol):
    """A listing's answer: the token of the next page (empty: this was the last)."""

    @property
    def next_page_token(self) -> str: ...


Request = TypeVar("Request", bound=PagedRequest)
Response = TypeVar("Response", bound=Page)


def _paged(request: object) -> None:
    """Refuses a request of a listing that does not page (ListDatasets, ListSystemRoles answer everything at once):
    its one answer was yielded, then a bare ``AttributeError: next_page_token`` said nothing of why."""
    if not hasattr(request, "page_token"):
        raise TypeError(f"{type(request).__name__} has no page_token: its listing answers everything in one reply "
                        "and does not page; call the method once instead of through pages()")


def _next(request: Request, response: Page, seen: set[str]) -> Request | None:
    """The request of the page after ``response`` (the filters kept), or None when it was the last."""
    token = response.next_page_token
    if not token:
        return None
    if token in seen:  # a token seen before would read the same pages again, for ever
        raise RuntimeError(f"the listing answered page token {token!r} a second time: stopping, not looping")
    seen.add(token)
    following = copy.deepcopy(request)
    following.page_token = token
    return following


def pages(method: UnaryUnary[Request, Response], request: Request, *,
          timeout: float | None = None) -> Iterator[Response]:
    """Each page of a listing, first to last, each with the client's token, deadline (``timeout`` per page),
    retries and errors; ``request`` (its filters and ``page_size``) is not changed."""
    _paged(request)
    following: Request | None = request
    seen: set[str] = set()
    while following is not None:
        response = method(following, timeout=timeout)
        yield response
        following = _next(following, response, seen)


async def async_pages(method: AsyncUnaryUnary[Request, Response], request: Request, *,
                      timeout: float | None = None) -> AsyncIterator[Response]:  # noqa: ASYNC109 (the gRPC deadline)
    """As :func:`pages`, for :class:`govshare_client.AsyncClient`'s stubs (``async for page in async_pages(…)``)."""
    _paged(request)
    following: Request | None = request
    seen: set[str] = set()
    while following is not None:
        response = await method(following, timeout=timeout)
        yield response
        following = _next(following, response, seen)
