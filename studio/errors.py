"""Turning whatever a request raises into one sentence for the user (``gr.Error``).

Expected problems (a bad file, a limit, missing weights, GPU out of memory, a timeout) become a
specific message; anything else is logged with its traceback and shown as a short generic message
with a reference the operator can find in the log. Messages are HTML-escaped: Gradio renders them
as HTML and they can quote a user's file name.
"""
from __future__ import annotations

import contextlib
import html
import logging
import re
import secrets
from typing import Iterator

import gradio as gr
import torch

from resshift.errors import InvalidRequest, free_memory, is_out_of_memory
from resshift.face.gfpgan import GFPGAN_WEIGHTS
from resshift.manager import UnknownModelError
from resshift.runtime.progress import Cancelled, RequestTimeout
from resshift.weights import UnsafeWeightsError, WeightsLoadError, WeightsUnavailable

log = logging.getLogger(__name__)

OOM_MESSAGE = ("The {where} ran out of memory on this image. Try a smaller image, or a smaller tile "
               "size under Advanced, and run again.")


# an absolute path (POSIX or Windows) not inside a URL: '/srv/cache/x/w.pth' -> 'w.pth'
_PATH = re.compile(r"(?<![\w:/.~-])(?:/|[A-Za-z]:\\)(?:[^\s/\\'\"<>()]+[/\\])+([^\s/\\'\"<>()]*)")


def file_names_only(text: str) -> str:
    """``text`` with every absolute server path replaced by its file name (the folders are the
    server's business; the operator's log has them whole)."""
    def name(match: re.Match) -> str:
        path = match.group(0).rstrip("/\\")
        return re.split(r"[/\\]", path)[-1] or path
    return _PATH.sub(name, text)


def sentence(text: str) -> str:
    """'the mask is empty' -> 'The mask is empty.' (HTML-escaped; absolute paths shown as file names)."""
    text = file_names_only(str(text)).strip()
    if not text:
        return ""
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # 'the mask ...' -> 'The mask ...'; never 'tiny-sr ...'
        text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text += "."
    return html.escape(text, quote=False)


def user_error(text: str, title: str = "Cannot run") -> gr.Error:
    return gr.Error(sentence(text), title=title, print_exception=False)


def _weights_message(exc: WeightsUnavailable) -> str:
    """Why a weight file could not be had (no connection, an HTTP status, downloads off), from
    where, and where to put it by hand."""
    log.warning("%s", exc)  # the full story (URL, folders, reason) for the operator
    first = f"{exc.filename} could not be fetched" if exc.also else "It could not be fetched"
    why = f"{first}: {exc.reason}" + (f" ({exc.url})" if exc.url else "")
    where = (f"Whoever runs the studio can put the file{'s' if exc.also else ''} in its weights folder "
             "(--weights-dir or RESSHIFT_WEIGHTS_DIR)")
    if exc.filename == GFPGAN_WEIGHTS.filename:  # not a model of the lists: no model to pick instead
        return (f"GFPGAN v1.4's weight file {exc.filename} is not on this machine, so the comparison with "
                f"GFPGAN cannot run here. {why}. Compare steps or kappa instead, or models. {where}")
    if exc.also:
        files = " and ".join((exc.filename, *exc.also))
        return (f"The model's weight files {files} are not on this machine. {why}. Pick a model marked "
                f"'bundled', 'on disk' or 'loaded'. {where}")
    return (f"The model's weight file {exc.filename} is not on this machine. {why}. Pick a model marked "
            f"'bundled', 'on disk' or 'loaded'. {where}")


@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Run a request; re-raise any failure as ``gr.Error`` with a human sentence.

    what: the request in words, e.g. 'super-resolving the image' (used in the generic message).
    """
    try:
        yield
    except gr.Error:
        raise
    except UnknownModelError as exc:  # (an InvalidRequest too)
        raise user_error(f"{exc}. Reload the page to refresh the model list") from None
    except InvalidRequest as exc:  # the library's (and the limits') sentence, shown as it is
        raise user_error(str(exc)) from None
    except WeightsUnavailable as exc:
        raise user_error(_weights_message(exc), title="Model not available") from None
    except (UnsafeWeightsError, WeightsLoadError) as exc:
        log.error("weights failed to load: %s", exc)
        raise user_error(f"The model's weights could not be loaded: {exc}",
                         title="Model not available") from None
    except RequestTimeout as exc:
        raise user_error(f"The run {exc}. Use a smaller image or fewer steps",
                         title="Too slow") from None
    except Cancelled:
        raise user_error("The run was cancelled", title="Cancelled") from None
    except NotImplementedError as exc:
        raise user_error(f"This is not available here: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the UI edge: log everything, show a sentence
        if is_out_of_memory(exc):
            where = "GPU" if isinstance(exc, torch.cuda.OutOfMemoryError) else "server"
            log.warning("out of memory (%s) while %s", where, what)
            free_memory()
            raise user_error(OOM_MESSAGE.format(where=where), title="Out of memory") from None
        ref = secrets.token_hex(4)
        log.exception("error %s while %s", ref, what)
        raise gr.Error(f"Something went wrong while {html.escape(what)} (error {ref}). Please try "
                       "again; if it keeps happening, try a smaller image or another model.",
                       title="Server error", print_exception=False) from None
