"""How a run ends other than by finishing: each maps to one line and an exit status in `main`."""


class JaxlensError(Exception):
  """Bad input or configuration that the user can fix; the message says what and where.

  Exit status 2.
  """


class Diverged(Exception):
  """Training produced a non-finite loss or gradient norm; nothing after it was saved.

  Exit status 1.
  """


class Preempted(BaseException):
  """SIGTERM (or a multi-host preemption notice) stopped the run: during training after a
  checkpoint was saved, or at once where nothing is being saved (setup, the final evaluation).

  Exit status `PREEMPTED_EXIT_STATUS`: the same command resumes the run. A `BaseException`, as
  `KeyboardInterrupt`: raised from the signal handler, it must pass through `except Exception`
  (a restore that fails is taken for a damaged checkpoint).
  """


PREEMPTED_EXIT_STATUS = 75  # EX_TEMPFAIL (sysexits.h): "temporary failure, invited to retry"
