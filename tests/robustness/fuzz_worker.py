"""The CLI fuzz's worker: runs `cnnlab` argument lists read from stdin (one JSON list a line) in one
process under an address-space cap, and answers each with its exit code and the end of stderr.

Exit code 1 stands for anything that escaped ``main`` (a traceback)."""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import traceback

cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

from cnnlab import images  # noqa: E402
from cnnlab.cli import main  # noqa: E402

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    argv = json.loads(line)
    if hasattr(images, "set_max_pixels"):  # the limit a previous run raised goes back to the default
        images.set_max_pixels(None)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse's usage errors
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException:  # noqa: BLE001 - the fuzz reports it
            rc = 1
            traceback.print_exc(file=err)
    print(json.dumps({"rc": rc, "err": err.getvalue()[-3000:]}), flush=True)
