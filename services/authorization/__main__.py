"""Entry point: ``python -m services.authorization``."""

from services.authorization.component import create_component
from services.runtime.server import serve

serve("authorization", create_component)
