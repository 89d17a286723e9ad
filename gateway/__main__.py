"""Entry point: ``python -m gateway``."""

from gateway.component import create_component
from services.runtime.server import serve

serve("gateway", create_component)
