"""`python -m chaos_harness ...`: the chaos-harness command."""

import sys

from chaos_harness.frontends.entry import main

sys.exit(main())
