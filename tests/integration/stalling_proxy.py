"""A TCP proxy whose connections can be made to stall without a word (tests of keepalive: the SDK's and the mesh's
channels must find such a connection dead and replace it)."""

from __future__ import annotations

import asyncio


class StallingProxy:
    """A TCP proxy whose connections can be made to stall: every byte dropped either way and nothing closed, as when
    a firewall or a NAT between a business system and the platform drops an idle session without a word, or a peer's
    node is lost. Connections opened after a stall are forwarded."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._flowing: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._stalled: list[asyncio.Event] = []
        self._given_up: set[asyncio.Event] = set()

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def stall(self) -> None:
        """The connections open now forward nothing from here on."""
        for flowing in self._flowing:
            flowing.clear()
        self._stalled, self._flowing = self._flowing, []

    async def given_up(self, within: float = 60.0) -> bool:
        """Whether the client closed every stalled connection within ``within`` seconds (a bound, not a measure: a
        client that finds such a connection dead does so within seconds here)."""
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            if self._stalled and all(flowing in self._given_up for flowing in self._stalled):
                return True
            await asyncio.sleep(0.1)
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        edge_reader, edge_writer = await asyncio.open_connection(*self._target)
        flowing = asyncio.Event()
        flowing.set()
        self._flowing.append(flowing)
        self._writers.extend((writer, edge_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_client: bool) -> None:
            while data := await source.read(65536):
                if flowing.is_set():
                    sink.write(data)
            if from_client:
                self._given_up.add(flowing)
            sink.close()

        await asyncio.gather(pipe(reader, edge_writer, True), pipe(edge_reader, writer, False),
                             return_exceptions=True)
