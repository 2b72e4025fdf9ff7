"""postline's exceptions. Prefect retries only :class:`Retryable`; a :class:`Permanent`
error stops that one photo, with its message as the reason, and the order goes on."""


class PostlineError(Exception):
    """Base of every error postline raises on purpose."""


class Retryable(PostlineError):
    """Worth another try as is: a full disk being cleared, a busy database, a network share."""


class Permanent(PostlineError):
    """Trying again will not help: corrupt or unsupported file, bad preset, impossible request."""


class PhotoError(Permanent):
    """One photo cannot go on; the message names the file and what to do."""


def retry_only_retryable(task, task_run, state) -> bool:  # noqa: ANN001  (Prefect's retry_condition_fn signature)
    try:
        state.result()
    except Retryable:
        return True
    except Exception:  # noqa: BLE001
        return False
    return False
