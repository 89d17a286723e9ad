"""Checking a department's provider endpoint before its entry is published.

An entry naming a 前置机 (``endpoint.target``) is published only once that endpoint answers
ProviderService.Describe saying it serves the entry's dataset, for the entry's provider department, with every
item the entry lists: a typo in an address, a 前置机 not yet configured for the dataset, or one of another
department is found at review, not by the first query. The call carries the platform's provider assertion
(services.runtime.provider_assertions) like query's calls: a 前置机 answers nothing else. Entries without a
target (or naming the foundation service's address, ``GOVSHARE_FOUNDATION_TARGET``) read the foundation service,
inside the mesh, and need no check.
"""

from __future__ import annotations

import grpc

from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.catalog.model import Entry
from services.runtime.clients import open_channel
from services.runtime.errors import ServiceError, failed_precondition, unavailable
from services.runtime.provider_assertions import AccessClaims, ProviderAssertionSigner
from services.runtime.settings import Settings

#: Deadline of the check (the reviewer is waiting).
CHECK_TIMEOUT_SECONDS = 5.0


class EndpointChecker:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._signer = ProviderAssertionSigner(settings.provider_signing_key) \
            if settings.provider_signing_key else None

    async def check(self, entry: Entry, reviewer_department: str) -> None:
        """Returns when ``entry``'s endpoint serves it; FAILED_PRECONDITION saying what is wrong, UNAVAILABLE
        when it does not answer."""
        target = entry.endpoint.target
        if not target or target == self._settings.foundation_target:
            return  # the foundation service, inside the mesh (its address spelled out)
        if self._signer is None:
            raise unavailable("ENDPOINT_NOT_CHECKED", "department endpoints cannot be checked: the catalog has no "
                                                      "GOVSHARE_PROVIDER_SIGNING_KEY")
        claims = AccessClaims(department_code=reviewer_department, system_id="svc:catalog",
                              purpose="ENDPOINT_CHECK", audit_id=f"catalog:{entry.code}:v{entry.version}")
        channel = open_channel(target, self._settings)
        try:
            response = await provider_pb2_grpc.ProviderServiceStub(channel).Describe(
                provider_pb2.DescribeRequest(dataset=entry.endpoint.dataset), timeout=CHECK_TIMEOUT_SECONDS,
                metadata=self._signer.metadata(target, claims))
        except grpc.aio.AioRpcError as exc:
            raise _unanswered(entry, exc) from None
        finally:
            await channel.close()
        _require_serves(entry, response)


#: The most of a 前置机's own words a refusal repeats (they come from the department's machine, not the platform).
_REFUSAL_WORDS = 200


def _unanswered(entry: Entry, error: grpc.aio.AioRpcError) -> ServiceError:
    """Why the endpoint gave no answer to the check: it refused the platform's assertion, or did not answer.

    A 前置机 that refuses the assertion answers (UNAUTHENTICATED): its platform.pem is not the platform's key, its
    ``endpoint`` is not the target the entry registers (another name of the same machine), or its clock is off.
    Told "does not answer", UNAVAILABLE, the reviewer and the department looked for a 前置机 down or an address
    mistyped, and waited to retry; the fix is the 前置机's configuration, named with the 前置机's own reason.
    """
    target = entry.endpoint.target
    if error.code() == grpc.StatusCode.UNAUTHENTICATED:
        why = " ".join((error.details() or "").split())[:_REFUSAL_WORDS]
        return failed_precondition(
            "ENDPOINT_REFUSES_PLATFORM",
            f"the endpoint {target} of {entry.code} refused the platform's call ({why}): the provider department's "
            f"前置机 is to trust the platform's provider public key (platform.public_keys, provider-public.pem) and "
            f"to be registered by its `endpoint` ({target}), its clock right; its log says which: it is not "
            "published")
    return unavailable("ENDPOINT_UNAVAILABLE", f"the endpoint {target} of {entry.code} does not answer "
                                               f"({error.code().name}): it is not published")


def _require_serves(entry: Entry, response: provider_pb2.DescribeResponse) -> None:
    target, dataset = entry.endpoint.target, entry.endpoint.dataset
    if not response.serves:
        raise failed_precondition("ENDPOINT_DOES_NOT_SERVE", f"the endpoint {target} does not serve dataset "
                                                             f"{dataset!r}")
    if response.department_code != entry.provider_department_code:
        raise failed_precondition("ENDPOINT_OF_ANOTHER_DEPARTMENT",
                                  f"the endpoint {target} serves department {response.department_code or '(none)'}"
                                  f", not the entry's provider {entry.provider_department_code}")
    missing = sorted({item.machine_name for item in entry.items} - set(response.items))
    if missing:
        raise failed_precondition("ENDPOINT_MISSES_ITEMS", f"the endpoint {target} serves {dataset!r} without "
                                                           f"{', '.join(missing)}")

