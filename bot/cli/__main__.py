"""`python -m bot.cli` (how `derechos dev` starts its children)."""
from . import main

main()
