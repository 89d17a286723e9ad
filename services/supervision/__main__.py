"""Entry point: ``python -m services.supervision``."""

from services.runtime.server import serve
from services.supervision.component import create_component

serve("supervision", create_component)
