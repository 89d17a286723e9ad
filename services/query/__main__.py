from services.query.component import create_component
from services.runtime.server import serve

serve("query", create_component)
