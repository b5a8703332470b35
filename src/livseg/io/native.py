"""What the C++ readers print: ITK, GDCM and the NIfTI library write warnings straight to
the process's stderr (file descriptor 2), past Python's logging. On the command line their
lines would follow livseg's own one-line error; here they are caught and logged at debug
level (``livseg -v`` shows them). Only the main thread redirects: in the web server, other
threads write to stderr at the same time.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

import SimpleITK as sitk

log = logging.getLogger("livseg.io.native")
sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK's own warnings: never on stderr


@contextlib.contextmanager
def native_output_logged() -> Iterator[None]:
    """Run the block with file descriptor 2 caught; its lines go to the debug log."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    log.debug("reader: %s", line.strip())
