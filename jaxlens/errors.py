"""User-facing errors: reported as one line by the command line, never as a traceback."""


class JaxlensError(Exception):
  """Bad input or configuration that the user can fix; the message says what and where."""
