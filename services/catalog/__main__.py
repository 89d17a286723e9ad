"""Entry point: ``python -m services.catalog``."""

from services.catalog.component import create_component
from services.runtime.server import serve

serve("catalog", create_component)
