"""``python -m whatconverts_async`` runs the ``whatconverts`` command."""

import sys

from .cli import main

sys.exit(main())
