"""``python -m resshift.cli`` (the same as ``python -m resshift``)."""
from . import main

raise SystemExit(main())
