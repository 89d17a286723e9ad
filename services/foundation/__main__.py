from services.foundation.component import create_component
from services.runtime.server import serve

serve("foundation", create_component)
